"""Benchmark: open an Asset Browser on a "Meshy" library of 100 models; the time until the previews show.

    flock /tmp/gui-tier.lock python3 scripts/bench_assets.py [--models 100] [--glb PATH] [--keep]

Needs the GUI tier's windowed Blender 4.3 (../shared/tools/gui-blender, as root). Builds the library
first: one Meshy-size model (the 1M-triangle GLB with three 2048^2 maps that bench_import.py builds,
cached in build/bench/) converted by the add-on's own converter in the bpy module (Blender 4.2, so
Blender 4.3 reads it), its preview the local server's thumbnail, then copied into N job folders (real
copies, not links: each file is read on its own). Then tests/gui/bench_asset_browser.py runs in the
windowed Blender: the add-on adds the library (api.add_asset_library), an Asset Browser is pointed at
it and the screen is grabbed in a loop until the visible previews are all drawn.
Prints JSON; not a timed test (BENCHMARKS.md is written by scripts/bench.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(ROOT))

import bench_import  # noqa: E402

import build  # noqa: E402

TOOL = ROOT.parent / "shared" / "tools" / "gui-blender"
GUI_DIR = ROOT / "tests" / "gui"
CONVERTER_PYTHON = ROOT / ".venvs" / "bpy-4.2.23" / "bin" / "python"


def build_library(library: Path, glb: Path, models: int) -> dict:
    from meshy_blender.jobs import converter
    from scripts.meshy_server import images

    first = library / "Model 000-00000000"
    first.mkdir(parents=True)
    shutil.copyfile(glb, first / "model.glb")
    (first / "thumbnail.png").write_bytes(images.thumbnail_png(b"bench"))
    t0 = time.monotonic()
    result = converter.Conversion(converter.Launcher(python=str(CONVERTER_PYTHON)),
                                  converter.ConvertRequest(folder=str(first), label="Model 000")).run()
    convert_s = time.monotonic() - t0
    for i in range(1, models):
        folder = library / f"Model {i:03d}-{i:08x}"
        folder.mkdir()
        for name in ("model.blend", "model.blend.json"):
            shutil.copyfile(first / name, folder / name)
    (first / "model.glb").unlink()  # a library keeps it; the browser never reads it
    return {"models": models, "model_blend_mb": round((first / "model.blend").stat().st_size / 2**20, 1),
            "triangles": result.triangles, "convert_s": round(convert_s, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--glb", help="the model to convert (default: the generated 1M-triangle GLB)")
    parser.add_argument("--keep", action="store_true", help="keep the library folder (printed)")
    args = parser.parse_args(argv)
    if not (TOOL / "run.sh").is_file():
        print(f"no windowed Blender harness at {TOOL}", file=sys.stderr)
        return 2
    glb = Path(args.glb) if args.glb else bench_import.build_big_glb(ROOT / "build" / "bench" / "import_1m_2048.glb")
    work = Path(tempfile.mkdtemp(prefix="meshy-bench-assets-"))
    try:
        library_info = build_library(work / "library", glb, args.models)
        for name in ("gui_lib.py", "bench_asset_browser.py"):
            shutil.copyfile(GUI_DIR / name, work / name)
        zip_file = build.build(quiet=True)
        out = ROOT / "build" / "bench" / "asset_browser"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        cmd = ["bash", str(TOOL / "run.sh"), "--ext", str(zip_file), "--in", str(work), "--timeout", "400",
               "--fail-on-traceback", str(work / "bench_asset_browser.py"), str(out)]
        with open(out / "run.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=500).returncode
        verdict = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
        bench = dict(verdict.get("data", {}).get("bench", {}))
        timeline = bench.pop("timeline", [])
        print(json.dumps({"library": library_info, "asset_browser": bench, "samples": len(timeline),
                          "ok": rc == 0 and verdict.get("ok") is True, "outputs": str(out)}, indent=2))
        return 0 if rc == 0 and verdict.get("ok") else 1
    finally:
        if args.keep:
            print(f"library kept in {work / 'library'}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
