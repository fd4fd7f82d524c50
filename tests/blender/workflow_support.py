"""Fixtures for end-to-end tests: the local Meshy server, the add-on pointed at it, test images."""

from __future__ import annotations

import importlib
import shutil
import types
from pathlib import Path

import bl_support
import bpy
import numpy as np
import pytest

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"


def make_image(name: str, width: int = 64, height: int = 48, alpha: bool = True, float_buffer: bool = False):
    """A generated image with a recognisable gradient (no file)."""
    img = bpy.data.images.new(name, width, height, alpha=alpha, float_buffer=float_buffer)
    y, x = np.mgrid[0:height, 0:width]
    px = np.zeros((height, width, 4), dtype=np.float32)
    px[..., 0] = x / max(1, width - 1)
    px[..., 1] = y / max(1, height - 1)
    px[..., 2] = 0.25
    px[..., 3] = 1.0
    img.pixels.foreach_set(px.ravel())
    return img


def save_image(img, path: Path, file_format: str = "PNG", color_depth: str = "8") -> Path:
    scene = bpy.context.scene
    settings = scene.render.image_settings
    old = (settings.file_format, settings.color_depth, scene.view_settings.view_transform)
    settings.file_format = file_format
    if file_format == "OPEN_EXR":
        settings.color_depth = "32"
    else:
        settings.color_depth = color_depth
    scene.view_settings.view_transform = "Standard"
    img.save_render(str(path), scene=scene)
    settings.file_format, settings.color_depth, scene.view_settings.view_transform = old
    return path


def png_file(tmp_path: Path, name="photo", **kw) -> Path:
    img = make_image(name, **kw)
    path = save_image(img, tmp_path / f"{name}.png")
    bpy.data.images.remove(img)
    return path


def reference_empty(name: str, image):
    """A selected image empty, as Add > Image > Reference makes (image may be None)."""
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_type = "IMAGE"
    obj.data = image
    bpy.context.scene.collection.objects.link(obj)
    obj.select_set(True)
    return obj


@pytest.fixture
def meshy(addon, make_server, monkeypatch, tmp_path):
    """The add-on talking to a fresh local server, with an empty journal and library."""
    srv = make_server(task_seconds=0.2, keepalive_seconds=0.5)
    monkeypatch.setenv("MESHY_API_KEY", TEST_KEY)
    monkeypatch.setenv("MESHY_API_BASE_URL", srv.url)
    runtime = importlib.import_module(bl_support.MODULE + ".blender.runtime")
    api = importlib.import_module(bl_support.MODULE + ".api")
    pump = importlib.import_module(bl_support.MODULE + ".blender.pump")
    report = importlib.import_module(bl_support.MODULE + ".blender.report")
    runtime.shutdown()
    shutil.rmtree(runtime.user_folder("journal"), ignore_errors=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    prefs.library_dir = str(tmp_path / "library")
    yield types.SimpleNamespace(server=srv, runtime=runtime, api=api, pump=pump, report=report, tmp=tmp_path)
    runtime.shutdown()
    prefs.library_dir = ""


def pump_until(m, predicate, timeout=30.0):
    """Run pump steps (as the modal operator would on TIMER events) until predicate() holds."""
    import time

    eng = m.runtime.engine()
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        m.pump.tick(bpy.context, events=eng.poll_events(timeout=0.05))


def server_task(srv, task_id):
    with srv.lock:
        return srv.tasks[task_id]
