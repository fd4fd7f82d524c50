"""A generated image's upload, made by a background Blender from its settings, in real Blender.

The PNG the child writes must be byte for byte what this Blender's own deferred path (pixels read
here, encode.png) makes, and hold exactly the pixels this Blender has; this Blender never makes or
reads the pixels; painted images are still read here; where no child can start, the pixels are read
here and that is said once; the child gets no key.
"""

from __future__ import annotations

import importlib
import json
import os

import bl_support
import bpy
import numpy as np
import pytest
from test_upload_deferred import _decode, _ihdr


@pytest.fixture
def images(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.images")


@pytest.fixture
def generated(addon):
    module = importlib.import_module(bl_support.MODULE + ".blender.image_generated")
    module._told["done"] = False
    return module


def new(name, w, h, kind="COLOR_GRID", alpha=True, float_buffer=False, color=None):
    image = bpy.data.images.new(name, w, h, alpha=alpha, float_buffer=float_buffer)
    image.generated_type = kind
    if color is not None:
        image.generated_color = color
    return image


CASES = [
    ("colour grid", dict(w=300, h=200)),
    ("uv grid, no alpha", dict(w=128, h=96, kind="UV_GRID", alpha=False)),
    ("blank, a colour", dict(w=70, h=50, kind="BLANK", color=(0.8, 0.3, 0.1, 0.6))),
    ("float colour grid", dict(w=90, h=64, float_buffer=True)),
    ("float blank, no alpha", dict(w=40, h=30, kind="BLANK", alpha=False, float_buffer=True, color=(2, .5, .02, 1))),
]


def here(images, image, max_size=4096):
    """What this Blender's deferred path makes of it: the pixels read here, encode.png."""
    w, h = image.size[:]
    out_w, out_h, _ = images._fitted(w, h, max_size)
    alpha = images._has_alpha(image, bpy.context.scene)
    pixels = images.image_pixels.read(image, alpha)
    return images.image_pixels.encoder(pixels, out_w, out_h)()


@pytest.mark.parametrize("label,kw", CASES, ids=[c[0] for c in CASES])
def test_the_child_writes_the_png_this_blender_would(images, generated, clean_scene, tmp_path, label, kw):
    image = new("Gen", kw.pop("w"), kw.pop("h"), **kw)
    try:
        prepared = images.prepare_image(image)
        assert not image.has_data, "this Blender made the pixels"
        assert getattr(prepared.encode, "__self__", None).__class__.__name__ == "Render", "not made by a child"
        assert prepared.note == "converted generated image to PNG"
        data = prepared.data  # the child's PNG
        assert data == here(images, image), f"{label}: the child's PNG differs from this Blender's"
        w, h = image.size[:]
        assert _ihdr(data)[:2] == (w, h)
        if not kw.get("float_buffer"):  # byte images: exactly the values this Blender holds
            px = np.empty(w * h * 4, np.float32)
            image.pixels.foreach_get(px)
            got = _decode(data, tmp_path)
            if kw.get("alpha", True):
                assert np.array_equal(got, np.round(px.reshape(h, w, 4) * 255))
            else:  # an RGB PNG: the colours
                assert np.array_equal(got[..., :3], np.round(px.reshape(h, w, 4)[..., :3] * 255))
    finally:
        bpy.data.images.remove(image)


def test_downscaled_like_this_blender_does(images, generated, clean_scene, tmp_path):
    image = new("Wide", 5000, 300)
    try:
        prepared = images.prepare_image(image)
        assert (prepared.width, prepared.height) == (4096, 246) and not image.has_data
        assert prepared.note == "converted generated image to PNG; downscaled from 5000 px to 4096 px"
        data = prepared.data
        assert data == here(images, image)
        assert _decode(data, tmp_path).shape == (246, 4096, 4)
    finally:
        bpy.data.images.remove(image)


def test_exact_pixels_against_what_this_blender_holds(images, generated, clean_scene, tmp_path):
    image = new("Grid", 160, 90)
    try:
        data = images.prepare_image(image).data
        w, h = image.size[:]
        px = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(px)
        assert np.array_equal(_decode(data, tmp_path), np.round(px.reshape(h, w, 4) * 255))
    finally:
        bpy.data.images.remove(image)


def test_a_painted_generated_image_is_read_here(images, generated, clean_scene, tmp_path):
    image = new("Painted", 64, 32)
    px = np.empty(64 * 32 * 4, np.float32)
    image.pixels.foreach_get(px)
    px[:400] = 0.25
    image.pixels.foreach_set(px)  # a stroke: the settings no longer describe the pixels
    try:
        prepared = images.prepare_image(image)
        assert image.is_dirty and getattr(prepared.encode, "__self__", None) is None
        assert np.array_equal(_decode(prepared.data, tmp_path).ravel(), np.round(px * 255))
    finally:
        bpy.data.images.remove(image)


def test_without_a_child_the_pixels_are_read_here_and_it_is_said_once(images, generated, clean_scene, tmp_path,
                                                                      monkeypatch):
    conv = importlib.import_module(bl_support.MODULE + ".jobs.converter")
    runtime = importlib.import_module(bl_support.MODULE + ".blender.runtime")
    report = importlib.import_module(bl_support.MODULE + ".blender.report")
    runtime.shutdown()
    monkeypatch.setattr(runtime, "converter_launcher", lambda: conv.Launcher(python=str(tmp_path / "no-python")))
    report.reports.clear()
    for name in ("First", "Second"):
        image = new(name, 48, 32)
        try:
            prepared = images.prepare_image(image)
            assert getattr(prepared.encode, "__self__", None) is None, "read here"
            w, h = image.size[:]
            px = np.empty(w * h * 4, np.float32)
            image.pixels.foreach_get(px)
            assert np.array_equal(_decode(prepared.data, tmp_path).ravel(), np.round(px * 255))
        finally:
            bpy.data.images.remove(image)
    told = [text for level, text in report.reports if "Generated images are read inside this Blender" in text]
    assert len(told) == 1 and "no-python" in told[0]


def test_the_child_gets_no_key(images, generated, clean_scene, monkeypatch, tmp_path):
    secret = "msy_SECRET_image_child_key_0451"
    monkeypatch.setenv("MESHY_API_KEY", secret)
    seen = {}
    import subprocess

    real = subprocess.Popen

    def spy(cmd, *args, **kwargs):
        seen["cmd"], seen["env"] = cmd, kwargs.get("env")
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    image = new("Keyless", 32, 32)
    try:
        assert images.prepare_image(image).data[:4] == b"\x89PNG"
    finally:
        bpy.data.images.remove(image)
    assert seen["env"] is not None and "MESHY_API_KEY" not in seen["env"]
    assert secret not in json.dumps(seen["cmd"]) + json.dumps(seen["env"])
    assert os.environ["MESHY_API_KEY"] == secret  # this Blender's own environment is untouched


def test_a_child_that_fails_to_start_on_the_worker_ends_that_upload_and_the_next_are_read_here(
        images, generated, clean_scene, tmp_path, monkeypatch):
    conv = importlib.import_module(bl_support.MODULE + ".jobs.converter")
    render = importlib.import_module(bl_support.MODULE + ".jobs.image_render")
    runtime = importlib.import_module(bl_support.MODULE + ".blender.runtime")
    report = importlib.import_module(bl_support.MODULE + ".blender.report")
    fake = tmp_path / "python"
    fake.write_bytes(b"\x7fELF not really")  # executable, so the cheap checks pass; exec() refuses it
    fake.chmod(0o755)
    runtime.shutdown()
    monkeypatch.setattr(runtime, "converter_launcher", lambda: conv.Launcher(python=str(fake)))
    monkeypatch.setattr(render, "_unstartable", {})
    report.reports.clear()
    image = new("Doomed", 40, 30)
    try:
        prepared = images.prepare_image(image)
        assert getattr(prepared.encode, "__self__", None).__class__.__name__ == "Render"
        with pytest.raises(render.RenderFailed, match="could not start") as failed:
            prepared.encode()
        assert "Nothing was sent to Meshy" in failed.value.user_message
        again = images.prepare_image(image)  # from now on: read here, said once
        assert getattr(again.encode, "__self__", None) is None and again.data[:4] == b"\x89PNG"
    finally:
        bpy.data.images.remove(image)
    told = [text for _, text in report.reports if "Generated images are read inside this Blender" in text]
    assert len(told) == 1
