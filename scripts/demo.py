"""The main job: photo(s) -> a textured 3D model in Blender, rendered, in one command.

    python3 scripts/demo.py                          # local Meshy-compatible server, test-mode key
    python3 scripts/demo.py --image chair.jpg        # your photo (1 -> Image to 3D, 2-4 -> Multi-Image)
    MESHY_API_KEY=msy-... python3 scripts/demo.py    # the real Meshy API (costs credits)

Sets up what it needs (a virtual environment with the pinned Blender wheel), builds the add-on,
installs it as a real extension into a headless Blender (the bpy module) and runs the job through
the add-on's public Python API, the same code path as the panel button. Writes OUT/demo.blend and
OUT/demo.png and prints a one-line summary; exits non-zero with a clear message on failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env

import build

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"

# API option flags: (flag, type, help). Names follow Meshy's API fields.
OPTION_FLAGS = [
    ("ai-model", str, "meshy-5, meshy-6 or latest"),
    ("model-type", str, "standard or lowpoly (single image)"),
    ("should-texture", "bool", "generate textures (default on)"),
    ("enable-pbr", "bool", "metallic, roughness, normal (+ emission on meshy-6) maps"),
    ("hd-texture", "bool", "4K base colour (meshy-6/latest)"),
    ("texture-prompt", str, "text to guide texturing (600 characters at most)"),
    ("texture-image-url", str, "image URL to guide texturing"),
    ("image-enhancement", "bool", "AI-enhance the input (meshy-6/latest)"),
    ("remove-lighting", "bool", "remove baked lighting (meshy-6/latest)"),
    ("should-remesh", "bool", "run the remesh phase"),
    ("topology", str, "quad or triangle"),
    ("target-polycount", int, "100 to 300,000"),
    ("save-pre-remeshed-model", "bool", "also keep the GLB from before remeshing"),
    ("symmetry-mode", str, "off, auto or on"),
    ("pose-mode", str, "'', a-pose or t-pose"),
    ("moderation", "bool", "screen inputs for harmful content"),
    ("auto-size", "bool", "estimate real-world size"),
    ("origin-at", str, "bottom or center (with --auto-size)"),
    ("multi-view-thumbnails", "bool", "four view thumbnails"),
    ("alpha-thumbnail", "bool", "transparent thumbnail"),
    ("target-formats", str, "comma-separated subset of glb,obj,fbx,stl,usdz,3mf"),
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", action="append", default=[], help="a photo (repeat for 2-4 views of one object)")
    ap.add_argument("--out", default="out", help="output folder (default: out/)")
    ap.add_argument("--api-key", default=None, help="Meshy API key (default: MESHY_API_KEY, else the local server)")
    ap.add_argument("--api-base", default=None, help="any Meshy-compatible server (default: MESHY_API_BASE_URL)")
    ap.add_argument("--task-seconds", type=float, default=20.0, help="local server: how long a task takes")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples for demo.png")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up waiting after this many seconds")
    ap.add_argument("--blender", default=_env.BLENDER_VERSIONS[-1], choices=_env.BLENDER_VERSIONS)
    g = ap.add_argument_group("Meshy options (named like the API fields)")
    for flag, typ, text in OPTION_FLAGS:
        if typ == "bool":
            g.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            g.add_argument(f"--{flag}", type=typ, default=None, help=text)
    return ap.parse_args(argv)


def options_from(args) -> dict:
    opts = {}
    for flag, _typ, _text in OPTION_FLAGS:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            opts[flag.replace("-", "_")] = value
    if "target_formats" in opts:
        opts["target_formats"] = [f.strip() for f in opts["target_formats"].split(",") if f.strip()]
    return opts


def start_local_server(task_seconds: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(_env.ROOT / "scripts" / "meshy_server.py"), "--port", "0",
         "--task-seconds", str(task_seconds), "--keepalive-seconds", "2"],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"demo: the local Meshy-compatible server did not start ({line!r})")
    return proc, line[line.index("http://"):].split()[0]


def main(argv=None) -> int:
    args = parse_args(argv)
    if len(args.image) > 4:
        print(f"demo: {len(args.image)} images given: Meshy takes 1 to 4 photos of one object", file=sys.stderr)
        return 2
    for img in args.image:
        if not Path(img).is_file():
            print(f"demo: image not found: {img}: check the path", file=sys.stderr)
            return 2
    py = _env.ensure(f"bpy-{args.blender}")
    zip_file = build.build()
    key = args.api_key or os.environ.get("MESHY_API_KEY", "")
    base = args.api_base or os.environ.get("MESHY_API_BASE_URL", "")
    server = None
    if not key:
        key = TEST_KEY
        if not base:
            server, base = start_local_server(args.task_seconds)
            print(f"no API key given: using the local Meshy-compatible server at {base} with the test-mode key")
    env = dict(os.environ, MESHY_API_KEY=key)
    if base:
        env["MESHY_API_BASE_URL"] = base
    import json

    job = {
        "zip": str(zip_file),
        "out": str(Path(args.out).resolve()),
        "images": [str(Path(i).resolve()) for i in args.image],
        "options": options_from(args),
        "samples": args.samples,
        "timeout": args.timeout,
    }
    try:
        return subprocess.run(
            [str(py), str(_env.ROOT / "scripts" / "demo_blender.py"), json.dumps(job)], cwd=_env.ROOT, env=env
        ).returncode
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
