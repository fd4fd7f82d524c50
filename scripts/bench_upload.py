"""Main-thread time of preparing a generated image's upload (issue 11: 8192² <= 0.3 s, 4096² <= 0.1 s).

    .venvs/bpy-4.5.15/bin/python scripts/bench_upload.py [--tree DIR] [--runs 3] [--sides 4096 8192]

Runs inside the bpy module. Each run makes a fresh generated image (COLOR_GRID) and has Blender make
its pixels first (timed apart as `generate`: Blender's own cost on first use, paid before the upload
code runs by anyone who has looked at or painted the image), then times what the main thread does
when it is submitted: `images.prepare_image` plus building the engine's UploadImage (the journal write of
`engine.submit` is not included: it is the same small write for every input). For a deferred
upload, the worker's share (`encode()`: the image child for a generated image, numpy otherwise) is
timed apart. `--painted` also measures the same images after one stroke (`foreach_set`: dirty, so
their pixels are read here, as for any painted image). `--tree` imports `meshy_blender` from
another checkout (e.g. `git archive <commit> | tar -x -C /tmp/before`) to measure the code before.
Prints one `BENCH-JSON {...}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose meshy_blender is measured")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sides", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--max-size", type=int, default=4096, help="the Max Upload Size preference")
    parser.add_argument("--painted", action="store_true", help="also painted (dirty) generated images")
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    import bpy

    from meshy_blender.blender import images

    out = {"blender": bpy.app.version_string, "tree": args.tree, "max_size": args.max_size, "cases": [],
           "load_average": [round(x, 2) for x in os.getloadavg()]}
    for side, painted in [(side, painted) for painted in ([False, True] if args.painted else [False])
                          for side in args.sides]:
        main_s, worker_s, generate_s, sizes = [], [], [], []
        for run in range(args.runs):
            image = bpy.data.images.new(f"generated_{side}_{run}", side, side)
            image.generated_type = "COLOR_GRID"
            start = time.perf_counter()
            assert image.size[0] == side and image.has_data  # asking for the size makes the pixels
            generate_s.append(time.perf_counter() - start)
            if painted:
                image.pixels[0] = 0.5  # one stroke: dirty, the settings no longer describe the pixels
                assert image.is_dirty
            start = time.perf_counter()
            prepared = images.prepare_image(image, args.max_size)
            upload = prepared.upload() if hasattr(prepared, "upload") else None
            main_s.append(time.perf_counter() - start)
            bpy.data.images.remove(image)
            encode = getattr(upload, "encode", None)
            if encode is not None:
                start = time.perf_counter()
                data = encode()
                worker_s.append(time.perf_counter() - start)
            else:
                data = prepared.data
            sizes.append(len(data))
            del prepared, upload, encode, data
        out["cases"].append({
            "side": side, "painted": painted, "main_thread_median_s": round(statistics.median(main_s), 3),
            "main_thread_max_s": round(max(main_s), 3),
            "main_thread_runs_s": [round(t, 3) for t in main_s],
            "generate_median_s": round(statistics.median(generate_s), 3),
            "worker_median_s": round(statistics.median(worker_s), 3) if worker_s else None,
            "bytes": sizes[-1],
        })
    print("BENCH-JSON " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
