"""The main job: build the add-on, install it into a headless Blender and run a whole job.

    python3 scripts/demo.py [--out DIR]

Sets up what it needs (a virtual environment with the pinned Blender wheel) and is quick
when that is already done. The Blender half runs in scripts/demo_blender.py inside the
real Blender Python module.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env  # noqa: E402
import build  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="out", help="output folder (default: out/)")
    ap.add_argument("--blender", default=_env.BLENDER_VERSIONS[-1], choices=_env.BLENDER_VERSIONS)
    args, rest = ap.parse_known_args()
    py = _env.ensure(f"bpy-{args.blender}")
    zip_file = build.build()
    cmd = [str(py), str(_env.ROOT / "scripts" / "demo_blender.py"), "--zip", str(zip_file), "--out", args.out, *rest]
    return subprocess.run(cmd, cwd=_env.ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
