"""Start real Blender (the bpy module) with a private user folder and install the built zip.

Shared by the pytest tier and by the subprocess scripts of process-level tests, so both
install the add-on exactly as a user's Blender does.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.meshy_blender"


def start_blender(user_dir: str | None = None):
    """Import bpy with BLENDER_USER_RESOURCES pointing at a private folder (must run first)."""
    if "bpy" in sys.modules:
        raise RuntimeError("bpy already imported: BLENDER_USER_RESOURCES would be ignored")
    user_dir = user_dir or tempfile.mkdtemp(prefix="meshy-blender-user-")
    os.environ["BLENDER_USER_RESOURCES"] = user_dir
    import bpy

    return bpy


def zip_path() -> Path:
    env = os.environ.get("MESHY_TEST_ZIP")
    if env:
        return Path(env)
    sys.path.insert(0, str(ROOT / "scripts"))
    import build

    return build.build(quiet=True)


def install_addon(zip_file: Path | None = None, online: bool = True):
    """Install and enable the zip as a user_default extension; return the installed module."""
    import bpy

    zip_file = zip_file or zip_path()
    if MODULE not in bpy.context.preferences.addons:
        result = bpy.ops.extensions.package_install_files(
            filepath=str(zip_file), repo="user_default", enable_on_install=True
        )
        if result != {"FINISHED"}:
            raise RuntimeError(f"installing {zip_file} failed: {result}")
    bpy.context.preferences.system.use_online_access = online
    return importlib.import_module(MODULE)


def add_cube(name="Cube"):
    """A one-triangle object of the user's, selected and active: what an import must leave alone."""
    import bpy

    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj
