"""Any Blender image input -> the PNG or JPEG bytes uploaded to Meshy (main thread only).

A PNG/JPEG file that needs no change is sent as its own bytes. Everything else is converted with
its pixels as Blender shows them (Standard view, no look): usually deferred, its pixels copied out
here (image_pixels.py) and encoded as PNG, downscaled if needed, on a worker (jobs/encode.py);
else (the Render Result, unusual colour spaces, uploads that may need JPEG to fit) written by
Blender itself with a neutral colour-management override (image_output.py), through a private
temporary folder. The user's image, scene settings and bpy.data are left as found.

Over Meshy's upload limit (meshy/upload.py: the data URI as sent) an image is made to fit in this
order: the file without its metadata, re-encoded (JPEG stays JPEG), as JPEG when it has no
transparency, then smaller. Every step the limit forced is in `Prepared.note` (the operators'
report) and logged as a warning (scripts).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager, suppress

import bpy

from ..meshy import upload
from ..meshy.errors import ReportableError
from . import image_pixels
from .image_bytes import JPEG_SIGNATURE, PNG_SIGNATURE, Header, sniff, strip_metadata
from .image_output import OutputError, neutral_output

log = logging.getLogger(__name__)

MAX_REFERENCE_IMAGES = 4
MIN_SIDE = 64  # below this, shrinking to fit the upload limit would make the input useless

_RENDERED = {"RENDER_RESULT", "COMPOSITING"}  # pixels exist only inside a render, never via .pixels
_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".webp", ".bmp", ".tga", ".hdr", ".jp2", ".dpx"}


class InputError(ReportableError):
    """A bad input; `.user_message` says what is wrong and what to do (shown in the panel and status bar)."""


class Prepared:
    """One prepared input: its bytes, or (deferred) the pixels a worker encodes into `mime` later.

    `data` encodes a deferred image here and now (tests, callers that want bytes); the operators and
    the API hand `upload()` to the engine instead, so the encoding runs on a worker thread.
    """

    def __init__(self, name: str, mime: str, data: bytes | None, width: int, height: int, converted: bool,
                 note: str, encode: Callable[[], bytes] | None = None):
        self.name = name  # job label and collection name
        self.mime = mime  # "image/png" | "image/jpeg"
        self.width, self.height = width, height
        self.converted = converted
        self.note = note  # what was done, e.g. "converted EXR to PNG; downscaled from 16384 px to 4096 px"
        self.encode = encode
        self._data = data

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self.encode is not None
            self._data = self.encode()
        return self._data

    def upload(self):
        """The engine's UploadImage: the bytes, or the deferred encoder (run on a worker)."""
        from ..jobs.model import UploadImage

        if self.encode is not None and self._data is None:
            return UploadImage(self.name, self.mime, encode=self.encode)
        return UploadImage(self.name, self.mime, self.data)


# ---------------------------------------------------------------------------------------------
# Public API


def prepare_image(image: bpy.types.Image, max_size: int = 4096) -> Prepared:
    """The upload for a Blender image: its own file bytes when they can go as they are, else converted."""
    name = _label(image.name)
    data = _stored_bytes(image)
    header = sniff(data) if data else None
    if data and header and _sendable(header, max_size):
        stored = _as_stored(name, header, data)
        if stored is not None:
            return stored
    if image.type not in _RENDERED:
        recreated = _recreated(image, name, max_size)  # before anything here makes its pixels
        if recreated is not None:
            return recreated
        _require_pixels(image)
    over = _over_limit(header, max_size)
    reason = _reason(image, header, over)
    return _deferred(image, name, max_size, reason, over) or _convert(
        image, name, max_size, owned=False, reason=reason, over_limit=over)


def prepare_file(path: str, max_size: int = 4096) -> Prepared:
    """The upload for a file path (console, scripts): read directly when possible, else loaded and converted."""
    path = os.path.normpath(bpy.path.abspath(os.path.expanduser(path)))
    base = os.path.basename(path)
    data = _read_file(path, base)
    header = sniff(data) if data else None
    if data and header and _sendable(header, max_size):
        stored = _as_stored(_label(base), header, data)
        if stored is not None:
            return stored
    image = _load(path, base)
    over = _over_limit(header, max_size)
    reason = _reason(image, header, over)
    try:
        return _deferred(image, _label(base), max_size, reason, over) or _convert(
            image, _label(base), max_size, owned=True, reason=reason, over_limit=over)
    finally:
        bpy.data.images.remove(image)


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


def _reason(image, header: Header | None, over_limit: str) -> str:
    if image.type in _RENDERED:
        return f"converted {image.name} to PNG"
    if image.source == "GENERATED":
        return "converted generated image to PNG"
    if image.is_dirty:
        return "converted painted image to PNG"
    if header is not None:  # a PNG/JPEG: only too deep, too large or too heavy
        kind = header.mime.split("/")[1].upper()
        if header.depth > 8:
            return f"converted {header.depth}-bit {kind} to 8-bit PNG"
        return f"re-encoded the {kind}: {over_limit}" if over_limit else ""
    fmt = {"OPEN_EXR": "EXR", "OPEN_EXR_MULTILAYER": "EXR", "TARGA": "TGA", "TARGA_RAW": "TGA"}
    return f"converted {fmt.get(image.file_format, image.file_format)} to PNG"


def _sendable(header: Header, max_size: int) -> bool:
    """A PNG/JPEG Blender need not touch (its size against Meshy's limit is checked by _as_stored)."""
    return header.depth <= 8 and max(header.width, header.height) <= max_size


def _over_limit(header: Header | None, max_size: int) -> str:
    """Why a PNG/JPEG that could go as it is must be re-encoded ('' when it need not be)."""
    if header is None or not _sendable(header, max_size):
        return ""
    return f"over {_LIMIT} even without its metadata"  # _as_stored tried that first


def _as_stored(name: str, header: Header, data: bytes) -> Prepared | None:
    """The file itself when it fits Meshy's limit, else without its metadata if that is enough; else None."""
    if upload.fits(header.mime, len(data)):
        return Prepared(name, header.mime, data, header.width, header.height, False, "")
    slim = strip_metadata(data, header.mime)
    if not upload.fits(header.mime, len(slim)):
        return None
    note = f"removed {upload.megabytes(len(data) - len(slim))} of metadata to fit {_LIMIT}"
    _warn(name, [note])
    return Prepared(name, header.mime, slim, header.width, header.height, False, note)


def _warn(name: str, shrunk: list[str]) -> None:
    """Scripts see what the limit made us do in the log; the operators report the same note."""
    if shrunk:
        log.warning("Meshy upload '%s': %s", name, "; ".join(shrunk))


# ---------------------------------------------------------------------------------------------
# Conversion


def _convert(image, name: str, max_size: int, owned: bool, reason: str, over_limit: str = "") -> Prepared:
    """Write `image` as PNG, downscaled to max_size; over Meshy's limit: JPEG when opaque, then smaller.

    A JPEG file over the limit is re-encoded as JPEG at once (as PNG a photo only grows). Every step
    the limit forced is in the note and logged as a warning. Nothing is left behind: temporary
    datablocks and files are removed whatever happens.
    """
    try:
        return _encode(image, name, max_size, owned, reason, over_limit)
    except OutputError as exc:
        raise InputError(exc.user_message) from None


def _fitted(width: int, height: int, max_size: int) -> tuple[int, int, str]:
    """The upload's size (the long side at most max_size) and the note saying so."""
    if max(width, height) <= max_size:
        return width, height, ""
    factor = max_size / max(width, height)
    note = f"downscaled from {max(width, height)} px to {max_size} px"
    return max(1, round(width * factor)), max(1, round(height * factor)), note


def _recreated(image, name: str, max_size: int) -> Prepared | None:
    """A generated image nobody painted: a background Blender remakes it from its settings and writes
    the PNG (image_generated.py); this Blender never reads its pixels. None: convert it here."""
    from . import image_generated

    if not image_generated.can_recreate(image):
        return None
    out_w, out_h, shrunk = _fitted(image.generated_width, image.generated_height, max_size)
    if not image_pixels.fits(out_w, out_h, True):
        return None
    encoder = image_generated.start(image, out_w, out_h)
    if encoder is None:
        return None
    note = "; ".join(n for n in (_reason(image, None, ""), shrunk) if n)
    return Prepared(name, "image/png", None, out_w, out_h, True, note, encode=encoder)


def _deferred(image, name: str, max_size: int, reason: str, over_limit: str) -> Prepared | None:
    """The pixels read now and encoded (and downscaled) on a worker; None when the main thread must convert.

    Only when the result is a PNG that surely fits Meshy's limit: over it, the JPEG and shrink steps
    of `_encode` (Blender's writers, main thread) stay in charge.
    """
    if image.type in _RENDERED or over_limit:
        return None
    alpha = _has_alpha(image, bpy.context.scene)
    width, height = image.size[:]
    out_w, out_h, shrunk = _fitted(width, height, max_size)
    notes = [reason, shrunk]
    if not image_pixels.can_defer(image, out_w, out_h, alpha):
        return None
    pixels = image_pixels.read(image, alpha)
    encoder = image_pixels.encoder(pixels, out_w, out_h)
    return Prepared(name, "image/png", None, out_w, out_h, True, "; ".join(n for n in notes if n), encode=encoder)


def _encode(image, name: str, max_size: int, owned: bool, reason: str, over_limit: str) -> Prepared:
    scene = bpy.context.scene
    alpha = _has_alpha(image, scene)
    notes, forced = [], [reason] if over_limit else []
    with tempfile.TemporaryDirectory(prefix="meshy-upload-") as tmp, neutral_output(scene) as out, _temps() as temps:
        src = image
        if image.type in _RENDERED or (not owned and max(image.size[:]) > max_size):
            src = temps(out.copy_of(image, tmp, alpha))  # an exact 8-bit copy that may be scaled
        long_side = max(src.size[:])
        if long_side > max_size:
            _shrink(src, max_size)
            notes.append(f"downscaled from {long_side} px to {max_size} px")
        # An opaque file over the limit goes straight to JPEG: a lossless re-encode of a photo that
        # big seldom fits and would hold the main thread for seconds.
        fmt = "JPEG" if over_limit and not alpha else "PNG"
        if fmt == "JPEG" and image.file_format != "JPEG":
            forced.append(f"sent as JPEG (as PNG it is over {_LIMIT})")
        data = out.write(src, os.path.join(tmp, f"upload.{fmt.lower()}"), fmt, alpha)
        if fmt == "PNG" and not _fits(fmt, data) and not (alpha and _alpha_used(src)):
            fmt, alpha = "JPEG", False
            data = out.write(src, os.path.join(tmp, "upload.jpg"), fmt, alpha)
            forced.append(f"sent as JPEG (as PNG it is over {_LIMIT})")
        while not _fits(fmt, data):
            if src is image and not owned:
                src = temps(out.copy_of(image, tmp, alpha))
            data = _shrink_to_fit(out, src, tmp, fmt, alpha, len(data), forced)
        width, height = src.size[:]
    _warn(name, forced)
    notes = [reason, *notes, *(forced[1:] if over_limit else forced)]
    return Prepared(name, _MIME[fmt], data, width, height, True, "; ".join(n for n in notes if n))


_MIME = {"PNG": "image/png", "JPEG": "image/jpeg"}
_LIMIT = f"Meshy's {upload.LIMIT_TEXT} upload limit"


def _fits(fmt: str, data: bytes) -> bool:
    return upload.fits(_MIME[fmt], len(data))


def _shrink_to_fit(out, src, tmp: str, fmt: str, alpha: bool, size: int, notes: list[str]) -> bytes:
    """One step down in size, aimed at the upload limit; InputError when the image would become too small."""
    long_side = max(src.size[:])
    target = int(long_side * min(0.9, 0.95 * (upload.max_file_bytes(_MIME[fmt]) / size) ** 0.5))
    if target < MIN_SIDE:
        raise InputError(
            f"'{src.name}' is {upload.megabytes(size)} as {fmt} even at {long_side} px, over {_LIMIT}: "
            "save a smaller or simpler image (e.g. JPEG) and use that"
        )
    _shrink(src, target)
    notes.append(f"downscaled from {long_side} px to {target} px to fit {_LIMIT}")
    return out.write(src, os.path.join(tmp, f"upload-{target}.{fmt.lower()}"), fmt, alpha)


def _shrink(image, long_side: int) -> None:
    """Scale a temporary image (never the user's) so its long side is `long_side`, keeping the aspect."""
    width, height = image.size[:]
    factor = long_side / max(width, height)
    image.scale(max(1, round(width * factor)), max(1, round(height * factor)))


def _has_alpha(image, scene) -> bool:
    """Whether the upload keeps an alpha channel (a transparent background helps Meshy)."""
    if image.type in _RENDERED:
        return bool(scene.render.film_transparent)
    return image_pixels.has_alpha(image)


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
