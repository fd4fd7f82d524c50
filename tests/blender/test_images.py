"""Any Blender image input -> upload bytes: passthrough, exact conversion, downscale, limits, bad input.

Test images are made here with numpy and Blender; produced PNGs are decoded by Blender (8-bit PNGs
decode to exactly byte/255) and compared with the expected 8-bit values.
"""

import importlib
import os
import struct
import zlib

import bl_support
import bpy
import numpy as np
import pytest

RNG = np.random.default_rng(7)


@pytest.fixture
def images(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.images")


@pytest.fixture
def upload(addon):
    """Meshy's upload limit (meshy/upload.py), the one definition images.py shrinks to."""
    return importlib.import_module(bl_support.MODULE + ".meshy.upload")


def _settings(scene) -> dict:
    """Every output / colour-management setting a conversion could touch."""
    s = scene.render.image_settings
    out = {f"fmt.{n}": getattr(s, n) for n in ("file_format", "color_mode", "color_depth", "compression", "quality")}
    out["fmt.color_management"] = s.color_management
    for owner, rna in (("scene", scene), ("override", s)):
        v, d = rna.view_settings, rna.display_settings
        out |= {f"{owner}.view.{n}": getattr(v, n) for n in ("view_transform", "look", "exposure", "gamma")}
        out[f"{owner}.view.use_curve_mapping"] = v.use_curve_mapping
        out[f"{owner}.display"] = d.display_device
    out["dither"] = scene.render.dither_intensity
    return out


@pytest.fixture
def scene(clean_scene):
    """An empty scene with a non-neutral look, checked unchanged (and bpy.data.images too) after the test."""
    clean_scene.view_settings.view_transform = "AgX"
    clean_scene.view_settings.exposure = 1.5
    clean_scene.render.image_settings.file_format = "TIFF"
    before, count = _settings(clean_scene), _image_count()
    yield clean_scene
    assert _settings(clean_scene) == before
    assert _image_count() == count, [i.name for i in bpy.data.images]


def _image_count() -> int:
    return sum(i.type != "RENDER_RESULT" for i in bpy.data.images)  # a render makes one


# --- helpers --------------------------------------------------------------------------------


def _new(name, pixels, float_buffer=False, alpha=True):
    """A generated image holding `pixels` (height, width, 4) in Blender's bottom-up order."""
    h, w, _ = pixels.shape
    image = bpy.data.images.new(name, w, h, alpha=alpha, float_buffer=float_buffer)
    image.pixels.foreach_set(pixels.astype(np.float32).ravel())
    return image


def _write(image, path, fmt, depth="8", mode="RGBA", **extra):
    """Write a test file via a throwaway scene (never the scene under test), with neutral colour management."""
    tmp = bpy.data.scenes.new("writer")
    try:
        s = tmp.render.image_settings
        s.file_format, s.color_mode, s.color_depth = fmt, mode, depth
        for key, value in extra.items():
            setattr(s, key, value)
        tmp.view_settings.view_transform = "Standard"
        image.save_render(str(path), scene=tmp)
    finally:
        bpy.data.scenes.remove(tmp)
    return str(path)


def _file_from(tmp_path, name, pixels, fmt="PNG", remove=True, **kw):
    image = _new(name, pixels)
    path = _write(image, tmp_path / name, fmt, **kw)
    if remove:
        bpy.data.images.remove(image)
    return path


def _decode(data, tmp_path) -> np.ndarray:
    """8-bit pixels (height, width, 4) of an encoded upload, bottom-up like Blender, as 0..255 floats."""
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


def _bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _ihdr(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, color_type


def _srgb8(linear):
    x = np.clip(linear, 0.0, 1.0)
    return np.round(np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055) * 255)


def _png16(path, rgb16):
    """A 16-bit RGB (or grey) PNG written by hand (rows top-down), so its values are known exactly."""
    h, w, channels = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if channels == 3 else 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return str(path)


def _noise(h, w, alpha=None):
    pixels = RNG.integers(0, 256, (h, w, 4)).astype(np.float32) / 255
    pixels[..., 3] = 1.0 if alpha is None else alpha
    return pixels


# --- passthrough ----------------------------------------------------------------------------


def test_png_file_is_sent_as_its_own_bytes(images, scene, tmp_path):
    path = _file_from(tmp_path, "photo.png", _noise(24, 40))
    raw = _bytes(path)
    count = len(bpy.data.images)
    p = images.prepare_file(path)
    assert len(bpy.data.images) == count  # sniffed, never loaded
    assert (p.name, p.mime, p.data, p.width, p.height, p.converted) == ("photo", "image/png", raw, 40, 24, False)
    image = bpy.data.images.load(path)
    try:
        q = images.prepare_image(image)
        assert (q.data, q.converted, q.name) == (raw, False, "photo")
    finally:
        bpy.data.images.remove(image)


def test_jpeg_file_is_sent_as_its_own_bytes(images, scene, tmp_path):
    path = _file_from(tmp_path, "shot.jpg", _noise(30, 50), fmt="JPEG", mode="RGB", quality=90)
    p = images.prepare_file(path)
    assert (p.mime, p.data, p.width, p.height, p.converted) == ("image/jpeg", _bytes(path), 50, 30, False)


def test_packed_png_is_sent_as_packed_bytes(images, scene, tmp_path):
    path = _file_from(tmp_path, "packed.png", _noise(8, 8))
    image = bpy.data.images.load(path)
    image.pack()
    os.remove(path)
    try:
        p = images.prepare_image(image)
        assert (p.data, p.converted) == (bytes(image.packed_file.data), False)
    finally:
        bpy.data.images.remove(image)


# --- conversion keeps pixels ----------------------------------------------------------------


def test_generated_image_is_converted_exactly_with_alpha(images, scene, tmp_path):
    alpha = np.where(np.arange(32) < 8, 0.0, 1.0)[None, :]
    pixels = _noise(16, 32, alpha=np.broadcast_to(alpha, (16, 32)))
    image = _new("Generated", pixels)
    try:
        p = images.prepare_image(image)
        assert (p.mime, p.converted, p.width, p.height, p.name) == ("image/png", True, 32, 16, "Generated")
        assert "generated" in p.note
        assert _ihdr(p.data) == (32, 16, 8, 6)  # 8-bit RGBA
        got = _decode(p.data, tmp_path)
        want = np.round(pixels * 255)
        assert np.array_equal(got[..., 3], want[..., 3])  # transparent stays transparent
        assert np.abs(got[:, 8:] - want[:, 8:]).max() == 0
        assert (image.source, image.filepath, image.size[:]) == ("GENERATED", "", (32, 16))
    finally:
        bpy.data.images.remove(image)


def test_painted_image_sends_the_painted_pixels(images, scene, tmp_path):
    path = _file_from(tmp_path, "canvas.png", _noise(8, 8))
    disk = _bytes(path)
    image = bpy.data.images.load(path)
    try:
        painted = _noise(8, 8)
        image.pixels.foreach_set(painted.ravel())
        assert image.is_dirty
        p = images.prepare_image(image)
        assert p.converted and "painted" in p.note
        assert np.abs(_decode(p.data, tmp_path) - np.round(painted * 255)).max() == 0
        assert image.is_dirty and _bytes(path) == disk
    finally:
        bpy.data.images.remove(image)


def _linear_ramp(h=4, w=64):
    ramp = np.linspace(0.0, 1.3, w, dtype=np.float32)
    pixels = np.ones((h, w, 4), np.float32)
    pixels[..., 0] = ramp
    pixels[..., 1] = ramp * 0.5
    pixels[..., 2] = ramp**2
    pixels[:, 0, :3] = (0.0031308, 0.18, 0.5)  # the sRGB knee, middle grey, 0.5 linear
    return pixels


def test_exr_becomes_srgb_png_as_shown_with_standard(images, scene, tmp_path):
    linear = _linear_ramp()
    source = _new("lin", linear, float_buffer=True)
    path = _write(source, tmp_path / "scan.exr", "OPEN_EXR", depth="32")
    bpy.data.images.remove(source)
    image = bpy.data.images.load(path)
    try:
        p = images.prepare_image(image)
        assert p.converted and p.note == "converted EXR to PNG"
        got = _decode(p.data, tmp_path)
        assert np.abs(got[..., :3] - _srgb8(linear[..., :3])).max() <= 1
        assert list(got[0, 0, :3]) == [10, 118, 188]  # known sRGB codes of 0.0031308, 0.18, 0.5
        assert image.is_float and not image.is_dirty and image.filepath == path
    finally:
        bpy.data.images.remove(image)
    q = images.prepare_file(path)
    assert (q.name, q.mime) == ("scan", "image/png")
    assert np.abs(_decode(q.data, tmp_path)[..., :3] - _srgb8(linear[..., :3])).max() <= 1


def test_exr_alpha_is_kept(images, scene, tmp_path):
    linear = _linear_ramp()
    linear[:, 32:, :] = 0.0  # fully transparent half (premultiplied: colour 0 too)
    path = _write(_new("a", linear, float_buffer=True), tmp_path / "cut.exr", "OPEN_EXR", depth="32")
    bpy.data.images.remove(bpy.data.images["a"])
    p = images.prepare_file(path)
    assert _ihdr(p.data)[3] == 6
    got = _decode(p.data, tmp_path)
    assert (got[:, 32:, 3] == 0).all() and (got[:, :32, 3] == 255).all()
    assert np.abs(got[:, :32, :3] - _srgb8(linear[:, :32, :3])).max() <= 1


def test_16_bit_png_becomes_8_bit(images, scene, tmp_path):
    rgb16 = RNG.integers(0, 65536, (6, 10, 3))
    p = images.prepare_file(_png16(tmp_path / "deep.png", rgb16))
    assert p.converted and "16-bit" in p.note
    assert _ihdr(p.data)[:3] == (10, 6, 8)
    got = _decode(p.data, tmp_path)[::-1]  # PNG rows are top-down
    assert np.abs(got[..., :3] - np.round(rgb16 / 65535 * 255)).max() <= 1


def test_16_bit_grey_png_becomes_opaque_8_bit(images, scene, tmp_path):
    grey16 = RNG.integers(0, 65536, (5, 7, 1))
    p = images.prepare_file(_png16(tmp_path / "grey.png", grey16))
    assert _ihdr(p.data) == (7, 5, 8, 2)  # RGB: a grey image has no alpha to keep
    got = _decode(p.data, tmp_path)[::-1]
    assert np.abs(got[..., :3] - np.round(grey16 / 65535 * 255)).max() <= 1


def test_packed_exr_is_converted(images, scene, tmp_path):
    linear = _linear_ramp()
    source = _new("lin", linear, float_buffer=True)
    path = _write(source, tmp_path / "packed.exr", "OPEN_EXR", depth="16")
    bpy.data.images.remove(source)
    image = bpy.data.images.load(path)
    image.pack()
    os.remove(path)
    try:
        p = images.prepare_image(image)
        assert (p.name, p.mime, p.note) == ("packed", "image/png", "converted EXR to PNG")
        assert np.abs(_decode(p.data, tmp_path)[..., :3] - _srgb8(linear[..., :3])).max() <= 1
        assert image.packed_file is not None and not image.is_dirty
    finally:
        bpy.data.images.remove(image)


@pytest.mark.parametrize(
    ("fmt", "ext", "extra"),
    [("TIFF", "tif", {}), ("BMP", "bmp", {}), ("TARGA", "tga", {}), ("WEBP", "webp", {"quality": 100})],
)
def test_other_formats_become_png_with_the_same_pixels(images, scene, tmp_path, fmt, ext, extra):
    pixels = _noise(12, 20)
    mode = "RGB" if fmt == "BMP" else "RGBA"
    path = _file_from(tmp_path, f"in.{ext}", pixels, fmt=fmt, mode=mode, **extra)
    p = images.prepare_file(path)
    assert (p.mime, p.converted, p.name, p.width, p.height) == ("image/png", True, "in", 20, 12)
    assert np.abs(_decode(p.data, tmp_path)[..., :3] - np.round(pixels[..., :3] * 255)).max() <= 1


def _render(scene, w=32, h=16):
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = w, h, 100
    bpy.ops.render.render()
    return bpy.data.images["Render Result"]


def test_render_result(images, scene, tmp_path):
    p = images.prepare_image(_render(scene))
    assert (p.name, p.mime, p.width, p.height, p.converted) == ("Render Result", "image/png", 32, 16, True)
    assert _ihdr(p.data)[2:] == (8, 2)  # opaque film: 8-bit RGB
    scene.render.film_transparent = True
    p = images.prepare_image(_render(scene))
    assert _ihdr(p.data)[2:] == (8, 6)  # transparent film: 8-bit RGBA


def test_render_result_without_a_render(images, clean_scene, tmp_path):
    _render(clean_scene, 8, 8)
    path = str(tmp_path / "rendered.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)  # the Render Result datablock survives, its pixels do not
    result = bpy.data.images["Render Result"]
    count = len(bpy.data.images)
    with pytest.raises(images.InputError, match=r"The Render Result is empty: render first \(F12\)"):
        images.prepare_image(result)
    assert len(bpy.data.images) == count


# --- size -----------------------------------------------------------------------------------


def test_16k_image_is_downscaled_not_refused(images, scene, tmp_path):
    pixels = np.zeros((256, 16384, 4), np.float32)
    pixels[..., 0] = np.linspace(0, 1, 16384)
    pixels[..., 3] = 1
    image = _new("wide", pixels)
    try:
        p = images.prepare_image(image)
        assert (p.width, p.height) == (4096, 64)
        assert "downscaled from 16384 px to 4096 px" in p.note
        assert _ihdr(p.data)[:2] == (4096, 64)
        assert image.size[:] == (16384, 256)
    finally:
        bpy.data.images.remove(image)


def test_large_png_file_is_loaded_and_downscaled(images, scene, tmp_path):
    path = _file_from(tmp_path, "big.png", _noise(100, 1000))
    p = images.prepare_file(path, max_size=500)
    assert (p.width, p.height, p.converted) == (500, 50, True)
    assert p.note == "downscaled from 1000 px to 500 px"


def _photo(h, w):
    """Smooth with a little grain, like a photo: JPEG beats PNG on it."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    pixels = np.stack([x, y, x * y, np.ones_like(x)], axis=-1) * 0.9
    pixels[..., :3] += RNG.random((h, w, 3)) * 0.04
    return pixels


def test_over_limit_opaque_image_goes_as_jpeg(images, upload, scene, tmp_path, monkeypatch):
    image = _new("photo", _photo(128, 128), alpha=False)
    try:
        png = images.prepare_image(image)
        # Under 90% of the PNG: no PNG encoder (ours on the worker, Blender's on the main thread) fits it.
        monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", upload.data_uri_length(png.mime, len(png.data) * 9 // 10))
        p = images.prepare_image(image)
        assert p.mime == "image/jpeg" and p.data[:3] == b"\xff\xd8\xff" and len(p.data) < len(png.data)
        assert "sent as JPEG" in p.note and "upload limit" in p.note
    finally:
        bpy.data.images.remove(image)


def test_over_limit_transparent_image_is_downscaled(images, upload, scene, tmp_path, monkeypatch):
    image = _new("cutout", _noise(128, 128, alpha=0.5))
    try:
        png = images.prepare_image(image)
        monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", upload.data_uri_length(png.mime, len(png.data) // 3))
        p = images.prepare_image(image)
        assert p.mime == "image/png" and _ihdr(p.data)[3] == 6
        assert upload.fits(p.mime, len(p.data)) and p.width < 128
        assert "to fit Meshy's 100 MB upload limit" in p.note
        assert image.size[:] == (128, 128)
        monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", 100)
        with pytest.raises(images.InputError, match="over Meshy's 100 MB upload limit"):
            images.prepare_image(image)
    finally:
        bpy.data.images.remove(image)


def _jpeg_with(data: bytes, *segments: tuple[int, bytes]) -> bytes:
    """The JPEG with extra header segments (marker, body) right after its start-of-image marker."""
    extra = b"".join(bytes([0xFF, m]) + struct.pack(">H", len(body) + 2) + body for m, body in segments)
    return data[:2] + extra + data[2:]


def test_metadata_goes_first_when_a_jpeg_is_over_the_limit(images, upload, scene, tmp_path, monkeypatch):
    """EXIF, XMP and comments are dropped, the colour profile and the scan are kept byte for byte."""
    plain = _bytes(_file_from(tmp_path, "p.jpg", _photo(64, 64), "JPEG", mode="RGB", quality=90))
    icc = (0xE2, b"ICC_PROFILE\0\x01\x01" + b"c" * 200)
    heavy = _jpeg_with(plain, (0xE1, b"Exif\0\0" + b"x" * 30_000), icc, (0xFE, b"note" * 5000))
    path = tmp_path / "heavy.jpg"
    path.write_bytes(heavy)
    monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", upload.data_uri_length("image/jpeg", len(plain) + 400))
    p = images.prepare_file(str(path))
    assert not p.converted and len(p.data) < len(plain) + 400
    assert plain[2:20] in p.data and icc[1] in p.data, "JFIF header and colour profile kept"
    assert p.data.endswith(plain[plain.index(b"\xff\xda"):]), "the compressed pixels are untouched"
    assert b"Exif" not in p.data and b"note" not in p.data
    assert "removed" in p.note and "metadata" in p.note and "100 MB upload limit" in p.note


def test_metadata_goes_first_when_a_png_is_over_the_limit(images, upload, scene, tmp_path, monkeypatch):
    plain = _bytes(_file_from(tmp_path, "p.png", _photo(64, 64)))
    text = struct.pack(">I", 20_000) + b"tEXt" + b"Comment\0" + b"t" * 19_992
    text += struct.pack(">I", zlib.crc32(text[4:]))
    heavy = plain[:33] + text + plain[33:]  # after the signature and IHDR
    path = tmp_path / "heavy.png"
    path.write_bytes(heavy)
    monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", upload.data_uri_length("image/png", len(plain) + 10))
    p = images.prepare_file(str(path))
    assert p.mime == "image/png" and b"tEXt" not in p.data and len(p.data) <= len(plain)
    assert np.array_equal(_decode(p.data, tmp_path), _decode(plain, tmp_path))


def test_over_limit_jpeg_is_re_encoded_as_jpeg(images, upload, scene, tmp_path, monkeypatch):
    """No metadata to drop: the photo goes as a lighter JPEG, never through a (bigger) PNG."""
    path = _file_from(tmp_path, "q.jpg", _photo(96, 96), "JPEG", mode="RGB", quality=100)
    size = len(_bytes(path))
    monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", upload.data_uri_length("image/jpeg", size - 300))
    p = images.prepare_file(path)
    assert p.mime == "image/jpeg" and len(p.data) < size and (p.width, p.height) == (96, 96)
    assert p.note.startswith("re-encoded the JPEG") and "sent as JPEG" not in p.note


# --- bad input ------------------------------------------------------------------------------


def test_missing_file(images, scene, tmp_path):
    path = str(tmp_path / "photo.png")
    with pytest.raises(images.InputError, match=r"'photo.png' was not found at .*photo.png"):
        images.prepare_file(path)
    image = bpy.data.images.new("photo.png", 4, 4)
    image.source, image.filepath = "FILE", path
    try:
        with pytest.raises(images.InputError, match="was not found"):
            images.prepare_image(image)
    finally:
        bpy.data.images.remove(image)


def test_empty_file(images, scene, tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(images.InputError, match=r"empty \(0 bytes\)"):
        images.prepare_file(str(tmp_path / "zero.png"))


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage"])
def test_corrupt_png(images, scene, tmp_path, damage):
    good = _bytes(_file_from(tmp_path, "ok.png", _noise(16, 16)))
    bad = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:40] + bytes([good[40] ^ 0xFF]) + good[41:],
        "garbage": good[:8] + os.urandom(200),
    }[damage]
    (tmp_path / "bad.png").write_bytes(bad)
    with pytest.raises(images.InputError, match="could not be read by Blender"):
        images.prepare_file(str(tmp_path / "bad.png"))
    image = bpy.data.images.load(str(tmp_path / "bad.png"))
    try:
        with pytest.raises(images.InputError, match="could not be read by Blender"):
            images.prepare_image(image)
    finally:
        bpy.data.images.remove(image)


def test_format_blender_cannot_read(images, scene, tmp_path):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4\n" + b"x" * 500)
    with pytest.raises(images.InputError, match="not an image format Blender knows"):
        images.prepare_file(str(tmp_path / "notes.pdf"))


def test_image_without_pixels(images, scene):
    image = bpy.data.images.new("Nothing", 4, 4)
    image.source = "FILE"  # a datablock with neither file nor pixels
    try:
        with pytest.raises(images.InputError, match="'Nothing' has no file and no pixels"):
            images.prepare_image(image)
    finally:
        bpy.data.images.remove(image)


# --- reference images -----------------------------------------------------------------------


def _empty(scene, name, image=True):
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_type = "IMAGE"
    if image:
        obj.data = bpy.data.images.new(f"img-{name}", 2, 2)
    scene.collection.objects.link(obj)
    obj.select_set(True)
    return obj


def _select_only(objs, active):
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objs)
    bpy.context.view_layer.objects.active = active


def test_reference_images_active_first_then_by_name(images, scene):
    c, a, b = (_empty(scene, n) for n in ("C", "A", "B"))
    mesh = bpy.data.objects.new("Mesh", bpy.data.meshes.new("m"))
    plain = bpy.data.objects.new("Plain", None)  # an empty that shows no image
    for o in (mesh, plain):
        scene.collection.objects.link(o)
    _select_only([c, a, b, mesh, plain], active=b)
    assert [(o.name, i.name) for o, i in images.reference_images(bpy.context)] == [
        ("B", "img-B"),
        ("A", "img-A"),
        ("C", "img-C"),
    ]
    _select_only([c, a], active=mesh)  # an unselected or non-image active object is not sent
    assert [o.name for o, _ in images.reference_images(bpy.context)] == ["A", "C"]
    for o in (a, b, c):
        bpy.data.images.remove(o.data)


def test_reference_images_errors(images, scene):
    empties = [_empty(scene, f"E{i}") for i in range(5)]
    _select_only([], active=None)
    with pytest.raises(images.InputError, match=r"Select 1-4 reference images \(Add > Image > Reference\)"):
        images.reference_images(bpy.context)
    _select_only(empties, active=empties[0])
    with pytest.raises(images.InputError, match="5 reference images selected: Meshy takes 1 to 4"):
        images.reference_images(bpy.context)
    hollow = _empty(scene, "Empty.001", image=False)
    _select_only([*empties[:2], hollow], active=empties[0])
    with pytest.raises(images.InputError, match=r"'Empty\.001' has no image"):
        images.reference_images(bpy.context)
    for o in empties:
        bpy.data.images.remove(o.data)
