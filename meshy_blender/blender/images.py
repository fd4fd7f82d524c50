"""Any Blender image input -> the PNG or JPEG bytes uploaded to Meshy (main thread only).

A PNG/JPEG file that needs no change is sent as its own bytes. Everything else is written by
Blender itself (`Image.save_render`) with a colour-management override of the Standard view
transform on the sRGB display, no look, no exposure or curves: that keeps 8-bit pixels exactly
as they are and gives float images the sRGB values Blender displays for them with Standard
(checked on 4.2 and 5.0; `Image.save()` would write linear data on 5.0). Conversions go through
a private temporary folder; the user's image, scene settings and bpy.data are left as found.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import bpy

from ..meshy.errors import ReportableError

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
MAX_REFERENCE_IMAGES = 4
JPEG_QUALITY = 95
PNG_COMPRESSION = 15  # Blender's default: a good size/speed balance for photos
MIN_SIDE = 64  # below this, shrinking to fit the upload limit would make the input useless

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
_RENDERED = {"RENDER_RESULT", "COMPOSITING"}  # pixels exist only inside a render, never via .pixels
_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".webp", ".bmp", ".tga", ".hdr", ".jp2", ".dpx"}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class InputError(ReportableError):
    """A bad input; `.user_message` says what is wrong and what to do (shown in the panel and status bar)."""


@dataclass(frozen=True)
class Prepared:
    name: str  # job label and collection name
    mime: str  # "image/png" | "image/jpeg"
    data: bytes
    width: int
    height: int
    converted: bool
    note: str  # what was done, e.g. "converted EXR to PNG; downscaled from 16384 px to 4096 px"


@dataclass(frozen=True)
class _Header:
    mime: str
    width: int
    height: int
    depth: int  # bits per channel


# ---------------------------------------------------------------------------------------------
# Public API


def prepare_image(image: bpy.types.Image, max_size: int = 4096) -> Prepared:
    """The upload for a Blender image: its own file bytes when they can go as they are, else converted."""
    name = _label(image.name)
    data = _stored_bytes(image)
    header = _sniff(data) if data else None
    if header and _sendable(header, data, max_size):
        return Prepared(name, header.mime, data, header.width, header.height, False, "")
    if image.type not in _RENDERED:
        _require_pixels(image)
    return _convert(image, name, max_size, owned=False, reason=_reason(image, header))


def prepare_file(path: str, max_size: int = 4096) -> Prepared:
    """The upload for a file path (console, scripts): read directly when possible, else loaded and converted."""
    path = os.path.normpath(bpy.path.abspath(os.path.expanduser(path)))
    base = os.path.basename(path)
    data = _read_file(path, base)
    header = _sniff(data) if data else None
    if header and _sendable(header, data, max_size):
        return Prepared(_label(base), header.mime, data, header.width, header.height, False, "")
    image = _load(path, base)
    try:
        return _convert(image, _label(base), max_size, owned=True, reason=_reason(image, header))
    finally:
        bpy.data.images.remove(image)


def find_image(name: str) -> bpy.types.Image:
    """The image datablock called `name` (the operators' image_name property)."""
    image = bpy.data.images.get(name)
    if image is None:
        raise InputError(f"No image named '{name}' in this file: pick one in the Meshy panel or check the name")
    return image


def reference_images(context) -> list[tuple[bpy.types.Object, bpy.types.Image]]:
    """The selected reference-image empties, active one first, then by name; other objects are ignored."""
    empties = [o for o in _selected_objects(context) if o.type == "EMPTY" and o.empty_display_type == "IMAGE"]
    for obj in empties:
        if not isinstance(obj.data, bpy.types.Image):
            raise InputError(
                f"'{obj.name}' has no image: open one in its Object Data properties (Image > Open) or deselect it"
            )
    if not empties:
        raise InputError("Select 1-4 reference images (Add > Image > Reference) in the 3D Viewport, then try again")
    if len(empties) > MAX_REFERENCE_IMAGES:
        raise InputError(
            f"{len(empties)} reference images selected: Meshy takes 1 to {MAX_REFERENCE_IMAGES} views of one object; "
            f"deselect {len(empties) - MAX_REFERENCE_IMAGES}"
        )
    active = _active_object(context)
    ordered = sorted((o for o in empties if o != active), key=lambda o: o.name)
    if active in empties:
        ordered.insert(0, active)
    return [(o, o.data) for o in ordered]


# ---------------------------------------------------------------------------------------------
# Inputs


def _label(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return stem if stem and ext.lower() in _IMAGE_EXTS else name


def _selected_objects(context):
    objs = getattr(context, "selected_objects", None)
    if objs is None:  # contexts without a view (timers, some scripts)
        objs = [o for o in context.view_layer.objects if o.select_get()]
    return objs


def _active_object(context):
    return getattr(context, "active_object", None) or context.view_layer.objects.active


def _image_path(image) -> str:
    return os.path.normpath(bpy.path.abspath(image.filepath, library=image.library)) if image.filepath else ""


def _stored_bytes(image) -> bytes | None:
    """The image's own encoded bytes when they are what Blender shows; None when only the pixels are."""
    if image.type in _RENDERED or image.source != "FILE" or image.is_dirty:
        return None
    if image.packed_file is not None:
        return bytes(image.packed_file.data)
    path = _image_path(image)
    if not path:
        raise InputError(f"'{image.name}' has no file and no pixels: open an image file or paint/generate one first")
    return _read_file(path, os.path.basename(path) or image.name)


def _read_file(path: str, base: str) -> bytes | None:
    """The file's bytes when it starts like a PNG/JPEG (worth sending as is); None for other formats."""
    if not os.path.exists(path):
        raise InputError(f"'{base}' was not found at {path}: check the path, or relink the image (Image > Replace)")
    if not os.path.isfile(path):
        raise InputError(f"'{base}' at {path} is a folder, not an image file: pick an image file")
    if os.path.getsize(path) == 0:
        raise InputError(f"'{base}' at {path} is empty (0 bytes): the file is damaged; export the image again")
    with open(path, "rb") as f:
        if not f.read(8).startswith((PNG_SIGNATURE, JPEG_SIGNATURE)):
            return None
        f.seek(0)
        return f.read()


def _load(path: str, base: str):
    """A temporary datablock for a file that needs converting; InputError when Blender cannot read it."""
    try:
        image = bpy.data.images.load(path, check_existing=False)
    except RuntimeError as exc:
        raise InputError(f"'{base}' could not be opened at {path}: {exc}") from None
    if 0 in image.size[:] or not image.has_data:  # the size first: it loads the pixels
        bpy.data.images.remove(image)
        raise InputError(_unreadable(base, path))
    return image


def _unreadable(base: str, path: str) -> str:
    return (
        f"'{base}' at {path} could not be read by Blender: the file is damaged or not an image format "
        "Blender knows; open it in an image editor and save it as PNG or JPEG"
    )


def _require_pixels(image) -> None:
    """Blender must hold pixels to convert: a damaged file or an empty datablock has none."""
    size = image.size[:]  # asking for the size loads the pixels
    if image.has_data and 0 not in size:
        return
    if image.source == "FILE" and not image.packed_file:
        path = _image_path(image)
        raise InputError(_unreadable(os.path.basename(path) or image.name, path))
    raise InputError(f"'{image.name}' has no pixels: open an image file, or paint or generate one first")


def _reason(image, header: _Header | None) -> str:
    if image.type in _RENDERED:
        return f"converted {image.name} to PNG"
    if image.source == "GENERATED":
        return "converted generated image to PNG"
    if image.is_dirty:
        return "converted painted image to PNG"
    if header is not None:  # a PNG/JPEG: only too deep, too large or too heavy
        kind = header.mime.split("/")[1].upper()
        return f"converted {header.depth}-bit {kind} to 8-bit PNG" if header.depth > 8 else ""
    fmt = {"OPEN_EXR": "EXR", "OPEN_EXR_MULTILAYER": "EXR", "TARGA": "TGA", "TARGA_RAW": "TGA"}
    return f"converted {fmt.get(image.file_format, image.file_format)} to PNG"


# ---------------------------------------------------------------------------------------------
# Sniffing PNG / JPEG without decoding


def _sniff(data: bytes) -> _Header | None:
    """Size and bit depth from the header; None when not a well-formed PNG/JPEG (then Blender decides)."""
    if data.startswith(PNG_SIGNATURE):
        return _png_header(memoryview(data))
    if data.startswith(JPEG_SIGNATURE):
        return _jpeg_header(data)
    return None


def _png_header(data: memoryview) -> _Header | None:
    """IHDR of a PNG whose chunks are all complete with good CRCs (catches truncated and damaged files)."""
    pos, header = 8, None
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return None
        if ctype == b"IHDR" and length >= 13:
            width, height, depth = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            header = _Header("image/png", width, height, depth)
        elif ctype == b"IEND":
            return header if header and header.width and header.height else None
        pos = end
    return None


def _jpeg_header(data: bytes) -> _Header | None:
    """Frame size from the SOF marker; None unless an end-of-image marker follows the first scan."""
    pos, header = 2, None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            precision, height, width = struct.unpack(">BHH", data[pos + 4 : pos + 9])
            header = _Header("image/jpeg", width, height, precision) if width and height else None
        elif marker == 0xDA:  # start of scan: the image data follows; it must end with EOI
            return header if header and data.rfind(b"\xff\xd9") > pos else None
        pos += 2 + length
    return None


def _sendable(header: _Header, data: bytes, max_size: int) -> bool:
    return header.depth <= 8 and max(header.width, header.height) <= max_size and len(data) <= MAX_UPLOAD_BYTES


# ---------------------------------------------------------------------------------------------
# Conversion


def _convert(image, name: str, max_size: int, owned: bool, reason: str) -> Prepared:
    """Write `image` as PNG (JPEG when too large and opaque), downscaled to max_size; nothing left behind."""
    scene = bpy.context.scene
    alpha = _has_alpha(image, scene)
    notes = [reason]
    with tempfile.TemporaryDirectory(prefix="meshy-upload-") as tmp, _neutral_output(scene) as out, _temps() as temps:
        src = image
        if image.type in _RENDERED or (not owned and max(image.size[:]) > max_size):
            src = temps(out.copy_of(image, tmp, alpha))  # an exact 8-bit copy that may be scaled
        long_side = max(src.size[:])
        if long_side > max_size:
            _shrink(src, max_size)
            notes.append(f"downscaled from {long_side} px to {max_size} px")
        fmt, data = "PNG", out.write(src, os.path.join(tmp, "upload.png"), "PNG", alpha)
        if len(data) > MAX_UPLOAD_BYTES and not (alpha and _alpha_used(src)):
            fmt, alpha = "JPEG", False
            data = out.write(src, os.path.join(tmp, "upload.jpg"), fmt, alpha)
            notes.append(f"sent as JPEG (PNG would be over {_mb(MAX_UPLOAD_BYTES)})")
        while len(data) > MAX_UPLOAD_BYTES:
            if src is image and not owned:
                src = temps(out.copy_of(image, tmp, alpha))
            data = _shrink_to_fit(out, src, tmp, fmt, alpha, len(data), notes)
        width, height = src.size[:]
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    return Prepared(name, mime, data, width, height, True, "; ".join(n for n in notes if n))


def _shrink_to_fit(out, src, tmp: str, fmt: str, alpha: bool, size: int, notes: list[str]) -> bytes:
    """One step down in size, aimed at the upload limit; InputError when the image would become too small."""
    long_side = max(src.size[:])
    target = int(long_side * min(0.9, 0.95 * (MAX_UPLOAD_BYTES / size) ** 0.5))
    if target < MIN_SIDE:
        raise InputError(
            f"'{src.name}' is {_mb(size)} as {fmt} even at {long_side} px, over Meshy's {_mb(MAX_UPLOAD_BYTES)} "
            "limit: save a smaller or simpler image (e.g. JPEG) and use that"
        )
    _shrink(src, target)
    notes.append(f"downscaled from {long_side} px to {target} px to stay under {_mb(MAX_UPLOAD_BYTES)}")
    return out.write(src, os.path.join(tmp, f"upload-{target}.{fmt.lower()}"), fmt, alpha)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def _shrink(image, long_side: int) -> None:
    """Scale a temporary image (never the user's) so its long side is `long_side`, keeping the aspect."""
    width, height = image.size[:]
    factor = long_side / max(width, height)
    image.scale(max(1, round(width * factor)), max(1, round(height * factor)))


def _has_alpha(image, scene) -> bool:
    """Whether the upload keeps an alpha channel (a transparent background helps Meshy)."""
    if image.type in _RENDERED:
        return bool(scene.render.film_transparent)
    return image.alpha_mode != "NONE" and image.depth == (128 if image.is_float else 32)  # RGBA, not grey (32 float)


def _alpha_used(image) -> bool:
    """Any pixel not fully opaque (read with numpy, never a Python loop over pixels)."""
    import numpy

    width, height = image.size[:]
    pixels = numpy.empty(width * height * image.channels, dtype=numpy.float32)
    image.pixels.foreach_get(pixels)
    return bool(pixels.reshape(-1, image.channels)[:, -1].min() < 1.0) if image.channels == 4 else False


@contextmanager
def _temps():
    """Track temporary datablocks and remove them all on the way out, whatever happened."""
    made = []

    def keep(image):
        made.append(image)
        return image

    try:
        yield keep
    finally:
        for image in made:
            with suppress(ReferenceError, RuntimeError):
                bpy.data.images.remove(image)


# ---------------------------------------------------------------------------------------------
# Writing through Blender with neutral colour management

_FORMAT_PROPS = ("media_type", "file_format", "color_mode", "color_depth", "compression", "quality")
_VIEW = {
    "view_transform": "Standard",
    "look": "None",
    "exposure": 0.0,
    "gamma": 1.0,
    "use_curve_mapping": False,
    "use_white_balance": False,  # 5.0+
}
_DISPLAY = {"display_device": "sRGB", "emulation": "OFF"}  # emulation: 5.0+


class _Output:
    """Writes images with the scene's image settings switched to a neutral override."""

    def __init__(self, scene):
        self.scene = scene
        self.settings = scene.render.image_settings

    def write(self, image, path: str, fmt: str, alpha: bool) -> bytes:
        """Encode with save_render (Standard view, no look): pixels as Blender shows them with Standard."""
        s = self.settings
        if hasattr(s, "media_type"):
            s.media_type = "IMAGE"
        s.file_format = fmt
        s.color_mode = "RGBA" if alpha else "RGB"
        s.color_depth = "8"
        s.compression = PNG_COMPRESSION
        s.quality = JPEG_QUALITY
        try:
            image.save_render(path, scene=self.scene)
        except RuntimeError as exc:
            raise InputError(_no_pixels_message(image, exc)) from None
        if not os.path.isfile(path):
            raise InputError(_no_pixels_message(image, "nothing was written"))
        with open(path, "rb") as f:
            return f.read()

    def copy_of(self, image, tmp: str, alpha: bool):
        """A temporary 8-bit datablock with exactly the pixels that would be uploaded (uncompressed TGA: fast)."""
        path = os.path.join(tmp, "full.tga")
        self.write(image, path, "TARGA_RAW", alpha)
        copy = bpy.data.images.load(path, check_existing=False)
        copy.alpha_mode = "STRAIGHT" if alpha else "NONE"
        if 0 in copy.size[:]:
            bpy.data.images.remove(copy)
            raise InputError(_no_pixels_message(image, "the copy could not be read back"))
        return copy


def _no_pixels_message(image, exc) -> str:
    if image.type == "RENDER_RESULT":
        return "The Render Result is empty: render first (F12), then send it"
    if image.type == "COMPOSITING":
        return "The Viewer Node has no image: render or run the compositor first, then send it"
    return f"'{image.name}' could not be written as an upload ({exc}): save it as PNG or JPEG and use that file"


def _snapshot(rna, names) -> dict:
    return {n: getattr(rna, n) for n in names if hasattr(rna, n)}


def _apply(rna, values: dict) -> None:
    """Set what this Blender version has; a missing Standard view would change pixels, so it is an error."""
    for name, value in values.items():
        if hasattr(rna, name):
            try:
                setattr(rna, name, value)
            except (TypeError, ValueError) as exc:
                raise InputError(f"Blender's colour management has no neutral '{value}' {name}: {exc}") from None


def _restore(rna, values: dict) -> None:
    for name, value in values.items():
        with suppress(AttributeError, TypeError, ValueError):
            setattr(rna, name, value)


@contextmanager
def _neutral_output(scene):
    """Switch the scene's output to a neutral colour-management override; restore every setting touched."""
    s = scene.render.image_settings
    formats = _snapshot(s, _FORMAT_PROPS)
    mode = s.color_management
    view = _snapshot(s.view_settings, _VIEW)
    display = _snapshot(s.display_settings, _DISPLAY)
    try:
        s.color_management = "OVERRIDE"
        _apply(s.display_settings, _DISPLAY)
        _apply(s.view_settings, _VIEW)
        yield _Output(scene)
    finally:
        _restore(s.display_settings, display)
        _restore(s.view_settings, view)
        s.color_management = mode
        _restore(s, formats)
