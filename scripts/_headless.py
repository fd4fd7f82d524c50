"""Start headless Blender (the bpy module) with the add-on installed as a real extension."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

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


def leave(code: int) -> NoReturn:
    """Exit with `code` now, skipping the interpreter's teardown (call once everything is written).

    The bpy 4.2 module can segfault in its own teardown after File > Open while any persistent
    load_post handler is registered (ours or not), which would turn a finished run into a crash.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
