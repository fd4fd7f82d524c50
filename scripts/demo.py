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
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli
import _env

import build


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", action="append", default=[], help="a photo (repeat for 2-4 views of one object)")
    ap.add_argument("--out", default="out", help="output folder (default: out/)")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples for demo.png")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up waiting after this many seconds")
    _cli.add_common(ap)
    return ap.parse_args(argv)


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
    backend = _cli.Backend(args)
    job = {
        "zip": str(zip_file),
        "out": str(Path(args.out).resolve()),
        "images": [str(Path(i).resolve()) for i in args.image],
        "options": _cli.options_from(args),
        "samples": args.samples,
        "timeout": args.timeout,
    }
    try:
        return subprocess.run(
            [str(py), str(_env.ROOT / "scripts" / "demo_blender.py"), json.dumps(job)], cwd=_env.ROOT, env=backend.env()
        ).returncode
    finally:
        backend.close()


if __name__ == "__main__":
    sys.exit(main())
