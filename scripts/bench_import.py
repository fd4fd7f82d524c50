"""Benchmark 2: importing a GLB through the add-on versus Blender's bare glTF importer (target ratio <= 1.10).

Runs inside the bpy module:

    .venvs/bpy-5.0.1/bin/python scripts/bench_import.py [--glb PATH] [--runs 5]

Without --glb it builds (once, cached in build/bench/) a GLB of 1M triangles with three 2048x2048 maps
(base colour, packed metallic-roughness, normal) using the local server's output modules (scripts/meshy_server).
`measure_import_overhead(glb_path)` is the reusable part (scripts/bench.py can call it).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import zlib
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
INSTALLED = "bl_ext.user_default.meshy_blender.blender.importer"


def _importer_module():
    """The installed extension's importer if present, else the source file loaded on its own."""
    try:
        return importlib.import_module(INSTALLED)
    except ImportError:
        path = ROOT / "meshy_blender" / "blender" / "importer.py"
        spec = importlib.util.spec_from_file_location("meshy_bench_importer", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def _fresh_scene(bpy) -> None:
    bpy.ops.wm.read_homefile(use_empty=True)
    gc.collect()


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_import_overhead(glb_path: str, runs: int = 5) -> dict:
    """Median wall time of the bare importer and of import_model on fresh empty scenes, and their ratio."""
    import bpy

    importer = _importer_module()
    bare, addon = [], []

    def run_bare():
        assert bpy.ops.import_scene.gltf(filepath=glb_path) == {"FINISHED"}

    def run_addon():
        importer.import_model(bpy.context, glb_path, name="Bench", tags={"meshy_task_id": "bench"})

    for i in range(runs + 1):  # the first pair warms caches and is dropped
        pair = [(bare, run_bare), (addon, run_addon)]
        for times, fn in pair if i % 2 else reversed(pair):  # alternate the order
            _fresh_scene(bpy)
            elapsed = _time(fn)
            if i:
                times.append(elapsed)
    triangles = sum(len(m.loop_triangles) for m in _calc_tris(bpy))
    _fresh_scene(bpy)
    bare_s, addon_s = statistics.median(bare), statistics.median(addon)
    return {
        "blender": bpy.app.version_string,
        "file": os.path.basename(glb_path),
        "file_mb": round(os.path.getsize(glb_path) / 1e6, 1),
        "triangles": triangles,
        "runs": runs,
        "bare_s": round(bare_s, 4),
        "addon_s": round(addon_s, 4),
        "bare_all_s": [round(t, 4) for t in bare],
        "addon_all_s": [round(t, 4) for t in addon],
        "ratio": round(addon_s / bare_s, 3),
    }


def _calc_tris(bpy):
    for mesh in bpy.data.meshes:
        mesh.calc_loop_triangles()
        yield mesh


# --------------------------------------------------------------------------- the test file


def _server_module(name: str):
    """A module of the local server package (scripts.meshy_server), importable from the repository root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"scripts.meshy_server.{name}")


def _noise_png(size: int, channels: int, seed: int) -> bytes:
    """A size x size PNG of repeated random rows: realistic size, built in a second."""
    images = _server_module("images")
    rows = [os.urandom(size * channels) for _ in range(64)]
    raw = b"".join(b"\x00" + rows[(y * 7 + seed) % 64] for y in range(size))
    ihdr = (size).to_bytes(4, "big") * 2 + bytes((8, {1: 0, 3: 2, 4: 6}[channels], 0, 0, 0))
    chunk = images.png_chunk
    return images.PNG_MAGIC + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def build_big_glb(path: Path, triangles: int = 1_000_000, size: int = 2048) -> Path:
    """1M triangles, base colour + metallic-roughness + normal maps at 2048^2 (cached)."""
    if path.exists():
        return path
    mesh = _server_module("mesh").build_mesh(triangles)
    pbr = {"metallic_roughness": _noise_png(size, 3, 1), "normal": _noise_png(size, 3, 2)}
    data = _server_module("formats").build_glb(mesh, (_noise_png(size, 3, 0), "image/png"), pbr)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glb", help="GLB to import (default: a generated 1M-triangle model)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    glb = args.glb or str(build_big_glb(ROOT / "build" / "bench" / "import_1m_2048.glb"))
    print(json.dumps(measure_import_overhead(glb, runs=args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
