"""Uploads prepared off the main thread: the pixels are read on it, the PNG is made on a worker.

What the worker makes is checked against what Blender's own save_render wrote before (the
main-thread conversion, still in images.py), and end to end: the PNG the local server received,
decoded, holds the right pixels; the main thread never compresses; an encoder failure ends the job
with a clear message and sends nothing.
"""

from __future__ import annotations

import importlib
import struct
import threading
import zlib

import bl_support
import bpy
import numpy as np
import pytest
from workflow_support import server_task

RNG = np.random.default_rng(3)


@pytest.fixture
def images(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.images")


@pytest.fixture
def encode(addon):
    return importlib.import_module(bl_support.MODULE + ".jobs.encode")


def _new(name, pixels, float_buffer=False, alpha=True):
    h, w, _ = pixels.shape
    image = bpy.data.images.new(name, w, h, alpha=alpha, float_buffer=float_buffer)
    image.pixels.foreach_set(pixels.astype(np.float32).ravel())
    return image


def _noise(h, w, alpha=1.0):
    pixels = RNG.integers(0, 256, (h, w, 4)).astype(np.float32) / 255
    pixels[..., 3] = alpha
    return pixels


def _linear(h, w):
    """Scene-linear values over the whole range (and beyond 1), premultiplied by a varying alpha."""
    pixels = RNG.random((h, w, 4)).astype(np.float32)
    pixels[..., :3] *= 1.2
    pixels[..., 3] = np.linspace(0.05, 1.0, w)[None, :]
    pixels[..., :3] *= pixels[..., 3:4]  # Blender keeps float buffers premultiplied
    return pixels


def _write(image, path, fmt, depth="8"):
    tmp = bpy.data.scenes.new("writer")
    try:
        s = tmp.render.image_settings
        s.file_format, s.color_mode, s.color_depth = fmt, "RGBA", depth
        tmp.view_settings.view_transform = "Standard"
        image.save_render(str(path), scene=tmp)
    finally:
        bpy.data.scenes.remove(tmp)
    return str(path)


def _decode(data, tmp_path):
    """(height, width, 4) values 0..255 of a PNG/JPEG, bottom-up like Blender."""
    path = tmp_path / "decoded"
    path.write_bytes(data)
    image = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = image.size[:]
        pixels = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return np.round(pixels.reshape(h, w, 4) * 255)


def _ihdr(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">IIBB", data[16:26])


def _todays(images, image, max_size=4096):
    """What the main-thread conversion (Blender's save_render, neutral override) makes of the image."""
    return images._convert(image, "x", max_size, owned=False, reason="")


# --- the worker's PNG equals what Blender wrote --------------------------------------------


def _cases(tmp_path):
    yield "byte RGBA", _new("byte", _noise(40, 56, alpha=RNG.random((40, 56)))), 0
    yield "byte opaque", _new("opaque", _noise(33, 47), alpha=False), 0
    yield "float", _new("float", _linear(24, 64), float_buffer=True), 1
    exr = _write(_new("exr-src", _linear(20, 30), float_buffer=True), tmp_path / "in.exr", "OPEN_EXR", "32")
    bpy.data.images.remove(bpy.data.images["exr-src"])
    yield "EXR file", bpy.data.images.load(exr, check_existing=False), 1
    deep = _write(_new("deep-src", _noise(18, 26)), tmp_path / "deep.png", "PNG", "16")
    bpy.data.images.remove(bpy.data.images["deep-src"])
    yield "16-bit PNG", bpy.data.images.load(deep, check_existing=False), 1


def test_worker_png_has_the_pixels_blender_wrote(images, clean_scene, tmp_path):
    clean_scene.view_settings.view_transform = "AgX"  # the scene's look never reaches the upload
    for label, image, tolerance in _cases(tmp_path):
        try:
            p = images.prepare_image(image)
            assert p.encode is not None, f"{label}: not deferred"
            want = _todays(images, image)
            assert want.encode is None and _ihdr(want.data)[3] == _ihdr(p.data)[3], label
            got, ref = _decode(p.data, tmp_path), _decode(want.data, tmp_path)
            assert got.shape == ref.shape, label
            assert np.array_equal(got[..., 3], ref[..., 3]), f"{label}: alpha differs"
            opaque = ref[..., 3] > 0
            diff = np.abs(got[..., :3] - ref[..., :3])[opaque].max()
            assert diff <= tolerance, f"{label}: colour differs by {diff}/255 from Blender's save_render"
        finally:
            bpy.data.images.remove(image)


def test_worker_downscale_keeps_size_aspect_and_content(images, clean_scene, tmp_path):
    y, x = np.mgrid[0:600, 0:1500] / 1500
    pixels = np.stack([x, y, (x * 7) % 1, np.ones_like(x)], axis=-1)
    image = _new("wide", pixels)
    try:
        p = images.prepare_image(image, max_size=500)
        assert p.encode is not None and (p.width, p.height) == (500, 200)
        assert p.note == "converted generated image to PNG; downscaled from 1500 px to 500 px"
        assert _ihdr(p.data)[:2] == (500, 200)
        got = _decode(p.data, tmp_path)
        ref = _decode(_todays(images, image, max_size=500).data, tmp_path)  # Blender's Image.scale
        assert got.shape == ref.shape
        assert np.abs(got - ref).mean() < 2.0, "the same picture, filtered a little differently"
        assert image.size[:] == (1500, 600)
    finally:
        bpy.data.images.remove(image)


def test_main_thread_keeps_what_it_cannot_do_exactly(images, clean_scene):
    """Unusual colour spaces and possible JPEG cases stay with Blender's writers (main thread)."""
    image = _new("data", _noise(8, 8))
    try:
        image.colorspace_settings.name = "Non-Color"
        assert images.prepare_image(image).encode is None
    finally:
        bpy.data.images.remove(image)


# --- end to end: operator and API, through the worker, to the server ------------------------


class _Watch:
    """Who runs the encoder and zlib, and whether Blender's writer ran (installed by the test)."""

    def __init__(self, monkeypatch, encode):
        self.calls: list[tuple[str, str]] = []
        main = threading.main_thread()
        real_png, real_compressobj = encode.png, zlib.compressobj

        def png(*args, **kwargs):
            self.calls.append(("png", "main" if threading.current_thread() is main else "worker"))
            return real_png(*args, **kwargs)

        def compressobj(*args, **kwargs):
            self.calls.append(("zlib", "main" if threading.current_thread() is main else "worker"))
            return real_compressobj(*args, **kwargs)

        output = importlib.import_module(bl_support.MODULE + ".blender.image_output")
        real_write = output.Output.write

        def write(out, *args, **kwargs):
            self.calls.append(("save_render", "main" if threading.current_thread() is main else "worker"))
            return real_write(out, *args, **kwargs)

        monkeypatch.setattr(encode, "png", png)
        monkeypatch.setattr(zlib, "compressobj", compressobj)
        monkeypatch.setattr(output.Output, "write", write)

    def on_main(self):
        return [c for c in self.calls if c[1] == "main"]


def _sent(meshy, job):
    meshy.api.wait(job, timeout=120)
    data, mime = server_task(meshy.server, job.view.task_id).images[0]
    return data, mime


def _submit_operator(meshy, image):
    assert bpy.ops.meshy.image_to_3d(image_name=image.name) == {"FINISHED"}
    return meshy.api.jobs()[0]


def test_generated_painted_float_and_big_images_reach_the_server(meshy, encode, monkeypatch):
    watch = _Watch(monkeypatch, encode)
    painted = _noise(30, 50, alpha=RNG.random((30, 50)))
    linear = _linear(16, 40)
    big = np.zeros((64, 6000, 4), np.float32)
    big[..., 0] = np.linspace(0, 1, 6000)
    big[..., 3] = 1
    cases = [
        ("painted", _new("Painted", painted), np.round(painted * 255), (50, 30), 0),
        ("float", _new("Linear", linear, float_buffer=True), None, (40, 16), 1),
        ("over max size", _new("Wide", big), None, (4096, 44), None),
    ]
    for how, submit in (("operator", _submit_operator), ("api", lambda m, img: m.api.submit_image(img))):
        for label, image, want, size, tolerance in cases:
            watch.calls.clear()
            job = submit(meshy, image)
            assert watch.on_main() == [], f"{how} {label}: the main thread encoded: {watch.calls}"
            data, mime = _sent(meshy, job)
            assert ("png", "worker") in watch.calls, f"{how} {label}: not encoded on a worker"
            assert mime == "image/png" and _ihdr(data)[:2] == size, (how, label)
            got = _decode(data, meshy.tmp)
            if label == "float":
                want = np.round(_todays_pixels(image) * 255)
            if want is not None:
                assert np.abs(got - want).max() <= tolerance, (how, label)
            else:  # downscaled: a horizontal ramp stays a ramp
                assert np.abs(got[0, :, 0] - np.linspace(0, 255, size[0])).max() <= 2, (how, label)
                assert (got[..., 3] == 255).all()


def _todays_pixels(image):
    """sRGB straight-alpha values (0..1) Blender's Standard view gives a premultiplied float image."""
    w, h = image.size[:]
    px = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(px)
    px = px.reshape(h, w, 4)
    rgb = np.clip(px[..., :3] / px[..., 3:4], 0, 1)
    rgb = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return np.concatenate([rgb, px[..., 3:4]], axis=-1)


def test_generated_and_16_bit_files_through_the_api(meshy, encode, monkeypatch):
    watch = _Watch(monkeypatch, encode)
    generated = bpy.data.images.new("Grid", 96, 64, alpha=True)
    generated.generated_type = "UV_GRID"
    w, h = generated.size[:]
    want = np.empty(w * h * 4, np.float32)
    generated.pixels.foreach_get(want)
    job = meshy.api.submit_image(generated)
    assert watch.on_main() == []
    data, _ = _sent(meshy, job)
    assert np.array_equal(_decode(data, meshy.tmp), np.round(want.reshape(h, w, 4) * 255)), "exact bytes"

    deep = np.zeros((10, 12, 3), np.uint16)
    deep[...] = RNG.integers(0, 65536, deep.shape)
    path = meshy.tmp / "deep.png"
    rows = b"".join(b"\x00" + deep[y].astype(">u2").tobytes() for y in range(10))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12, 10, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    watch.calls.clear()
    job = meshy.api.submit_image(str(path))
    assert watch.on_main() == [], watch.calls
    watch.calls.clear()
    data, _ = _sent(meshy, job)
    got = _decode(data, meshy.tmp)[::-1]  # PNG rows are top-down
    assert _ihdr(data)[2:] == (8, 2)
    assert np.abs(got[..., :3] - np.round(deep / 65535 * 255)).max() <= 1


def test_render_result_still_reaches_the_server(meshy):
    scene = bpy.context.scene
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 32, 16, 100
    bpy.ops.render.render()
    job = meshy.api.submit_image(bpy.data.images["Render Result"])
    data, mime = _sent(meshy, job)
    assert mime == "image/png" and _ihdr(data)[:2] == (32, 16)


def test_an_encoder_failure_ends_the_job_and_sends_nothing(meshy, encode, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("no room for the pixels")

    monkeypatch.setattr(encode, "png", broken)
    image = _new("Doomed", _noise(8, 8))
    job = meshy.api.submit_image(image)
    with pytest.raises(meshy.api.JobFailed) as failed:
        meshy.api.wait(job, timeout=60)
    message = failed.value.user_message
    assert "'Doomed' could not be converted for upload" in message and "MemoryError" in message
    assert "Nothing was sent to Meshy" in message
    assert job.view.state == "error" and job.view.task_id is None
    with meshy.server.lock:
        assert not meshy.server.tasks, "no create reached the server"
