"""Blender tier: real Blender (bpy wheel), the built zip installed as a user extension."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bl_support

bpy = bl_support.start_blender()


@pytest.fixture(scope="session")
def addon():
    """The installed add-on package (bl_ext.user_default.meshy_blender)."""
    return bl_support.install_addon()


@pytest.fixture
def clean_scene(addon):
    """A fresh, empty scene for each test that builds one."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    return bpy.context.scene


from workflow_support import meshy  # noqa: E402, F401  (fixture)

_exit = {"status": 0}


def pytest_sessionfinish(session, exitstatus):
    _exit["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without the interpreter's teardown once every report is written (see _headless.leave)."""
    from scripts._headless import leave

    leave(_exit["status"])
