"""The main thread's part of a deferred upload: copy an image's pixels out, nothing else.

One `foreach_get` into a float32 numpy buffer; jobs/encode.py turns it into a PNG on a worker
thread (colour, downscale, compression). Only images whose pixels that encoder reproduces exactly
as Blender's neutral save_render did go this way (byte sRGB, float scene-linear, 3 or 4 channels);
the rest (other colour spaces, the Render Result, uploads that may need JPEG to fit Meshy's limit)
keep the main-thread conversion in images.py.
"""

from __future__ import annotations

import bpy

from ..jobs import encode
from ..meshy import upload

_BYTE_SPACES = {"sRGB"}  # byte buffers whose values are already what the sRGB display shows
_DATA_SPACES = {"Non-Color", "Raw", "Generic Data"}


def can_defer(image, width: int, height: int, alpha: bool) -> bool:
    """Whether the worker can make this upload exactly as the main-thread conversion would, and it surely fits."""
    if image.channels not in (3, 4):
        return False
    return exact_colours(image.colorspace_settings, bool(image.is_float)) and fits(width, height, alpha)


def exact_colours(space, is_float: bool) -> bool:
    """encode.py reproduces Blender's neutral save of this colour space (byte sRGB, float scene-linear)."""
    if is_float:
        return not (getattr(space, "is_data", False) or space.name in _DATA_SPACES) and _rec709_working_space()
    return space.name in _BYTE_SPACES


def fits(width: int, height: int, alpha: bool) -> bool:
    """No PNG of this size can be over Meshy's limit: JPEG (main thread only) is never needed."""
    return upload.fits(encode.PNG_MIME, encode.size_bound(width, height, alpha))


def has_alpha(image) -> bool:
    """Whether the upload of a (non-render) image keeps an alpha channel: RGBA, not grey (32-bit float)."""
    return image.alpha_mode != "NONE" and image.depth == (128 if image.is_float else 32)


def _rec709_working_space() -> bool:
    """Float pixels are in the file's working space: encode.py's sRGB curve assumes Rec.709 (5.0+ may differ)."""
    colorspace = getattr(bpy.data, "colorspace", None)  # BlendFileColorspace, Blender 5.0+
    return getattr(colorspace, "working_space", "Linear Rec.709") == "Linear Rec.709"


def read(image, alpha: bool) -> encode.Pixels:
    """The image's pixels, copied out in one call (the only bpy work of a deferred upload)."""
    import numpy

    width, height = image.size[:]
    channels = image.channels
    buffer = numpy.empty(width * height * channels, dtype=numpy.float32)
    image.pixels.foreach_get(buffer)
    return encode.Pixels(buffer, width, height, channels, linear=bool(image.is_float), alpha=alpha)


def encoder(pixels: encode.Pixels, width: int, height: int):
    """The pure callable the worker runs: `encode.png` looked up when called (so a test can watch it)."""

    def run() -> bytes:
        return encode.png(pixels, width, height)

    return run
