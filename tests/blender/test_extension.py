"""The built zip installs as a real extension, registers cleanly and can be enabled again."""

import os
import zipfile

import bl_support
import bpy

MODULE = bl_support.MODULE


def _ours(fn) -> bool:
    return getattr(fn, "__module__", "").startswith(MODULE)


def _leftovers() -> list[str]:
    """Anything of ours still registered in Blender."""
    found = []
    for name in dir(bpy.types):
        cls = getattr(bpy.types, name, None)
        if isinstance(cls, type) and getattr(cls, "__module__", "").startswith(MODULE):
            found.append(f"class {name}")
    if hasattr(bpy.types.Scene, "meshy"):
        found.append("Scene.meshy")
    if hasattr(bpy.types.WindowManager, "meshy"):
        found.append("WindowManager.meshy")
    for hname in dir(bpy.app.handlers):
        handlers = getattr(bpy.app.handlers, hname)
        if isinstance(handlers, list):
            found += [f"handler {hname}:{fn.__name__}" for fn in handlers if _ours(fn)]
    return found


def test_installed_from_zip_as_user_extension(addon):
    assert addon.__name__ == MODULE
    user = os.environ["BLENDER_USER_RESOURCES"]
    assert os.path.realpath(addon.__file__).startswith(os.path.realpath(user))
    assert MODULE in bpy.context.preferences.addons


def test_zip_holds_only_the_addon():
    names = zipfile.ZipFile(bl_support.zip_path()).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    bad = [n for n in names if n.startswith(("tests/", "scripts/")) or "__pycache__" in n or n.endswith(".pyc")]
    assert bad == []
    assert any(n.startswith("meshy/") for n in names) and any(n.startswith("blender/") for n in names)


def test_panels_in_meshy_sidebar_tabs(addon):
    assert bpy.types.MESHY_PT_main.bl_space_type == "VIEW_3D"
    assert bpy.types.MESHY_PT_main.bl_category == "Meshy"
    assert bpy.types.MESHY_PT_image_editor.bl_space_type == "IMAGE_EDITOR"
    assert bpy.types.MESHY_PT_image_editor.bl_region_type == "UI"


def test_disable_enable_leaves_nothing_behind(addon):
    assert _leftovers(), "sanity: the enabled add-on registers things"
    # Touch lazily created state so unregister has something to clean up.
    runtime = __import__(f"{MODULE}.blender.runtime", fromlist=["x"])
    for _ in range(2):
        runtime.previews()
        handlers = __import__(f"{MODULE}.blender.handlers", fromlist=["x"])
        timers = (handlers.resume,)  # what a windowed Blender registers
        for fn in timers:
            if not bpy.app.timers.is_registered(fn):
                bpy.app.timers.register(fn, first_interval=100.0)
        bpy.ops.preferences.addon_disable(module=MODULE)
        assert _leftovers() == []
        assert not runtime.has_previews()
        assert not any(bpy.app.timers.is_registered(fn) for fn in timers)
        bpy.ops.preferences.addon_enable(module=MODULE)
        assert MODULE in bpy.context.preferences.addons
        assert hasattr(bpy.types.Scene, "meshy")


def test_register_is_fast(addon):
    """Enable time stays small: heavy modules (http, ssl, the engine) load on first use only."""
    import sys
    import time

    bpy.ops.preferences.addon_disable(module=MODULE)
    for name in [m for m in sys.modules if m.startswith(MODULE)]:
        del sys.modules[name]
    t0 = time.perf_counter()
    bpy.ops.preferences.addon_enable(module=MODULE)
    elapsed = time.perf_counter() - t0
    assert MODULE in bpy.context.preferences.addons
    # Our heavy modules (HTTP client, job engine) load on first use, never at enable.
    assert f"{MODULE}.jobs.engine" not in sys.modules
    assert f"{MODULE}.meshy.client" not in sys.modules
    assert elapsed < 1.0  # generous bound; the benchmark reports the real figure
