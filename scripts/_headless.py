"""Start headless Blender (the bpy module) with the add-on installed as a real extension."""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

MODULE = "bl_ext.user_default.meshy_blender"


def start(zip_file: str, user_dir: str | None = None):
    """Install (or reuse) the add-on in `user_dir` and return its public API module."""
    os.environ["BLENDER_USER_RESOURCES"] = user_dir or tempfile.mkdtemp(prefix="meshy-headless-user-")
    import bpy

    print(f"Blender {bpy.app.version_string} (headless bpy module)", flush=True)
    if MODULE not in bpy.context.preferences.addons:
        bpy.ops.extensions.package_install_files(filepath=zip_file, repo="user_default", enable_on_install=True)
    bpy.context.preferences.system.use_online_access = True  # as a user does in Preferences > System
    print(f"installed {Path(zip_file).name} as {MODULE}", flush=True)
    return importlib.import_module(MODULE + ".api")
