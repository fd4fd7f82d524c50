"""The Blender half of the demo, run by scripts/demo.py inside the bpy module's Python."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip", required=True)
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="meshy-demo-user-")
    import bpy

    print(f"Blender {bpy.app.version_string} (headless bpy module)")
    t0 = time.perf_counter()
    bpy.ops.extensions.package_install_files(filepath=args.zip, repo="user_default", enable_on_install=True)
    addon = importlib.import_module("bl_ext.user_default.meshy_blender")
    print(f"installed {Path(args.zip).name} as {addon.__name__} in {time.perf_counter() - t0:.2f} s")
    enabled = addon.__name__ in bpy.context.preferences.addons
    print(f"enabled: {enabled}; Meshy tab registered: {hasattr(bpy.types, 'MESHY_PT_main')}")
    return 0 if enabled else 1


if __name__ == "__main__":
    sys.exit(main())
