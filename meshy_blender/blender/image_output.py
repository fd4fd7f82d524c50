"""Writing images through Blender exactly as they are: the scene's output switched to a neutral override.

`Image.save_render` with the Standard view transform on the sRGB display, no look, no exposure or
curves keeps 8-bit pixels exactly and gives float images the sRGB values Blender shows for them
(checked on 4.2 and 5.0; `Image.save()` would write linear data on 5.0). Every setting touched is
restored on the way out.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress

import bpy

from ..meshy.errors import ReportableError

JPEG_QUALITY = 95
PNG_COMPRESSION = 15  # Blender's default: a good size/speed balance for photos


class OutputError(ReportableError):
    """The image could not be written; `.user_message` says why and what to do."""


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


class Output:
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
            raise OutputError(_no_pixels_message(image, exc)) from None
        if not os.path.isfile(path):
            raise OutputError(_no_pixels_message(image, "nothing was written"))
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
            raise OutputError(_no_pixels_message(image, "the copy could not be read back"))
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
                raise OutputError(f"Blender's colour management has no neutral '{value}' {name}: {exc}") from None


def _restore(rna, values: dict) -> None:
    for name, value in values.items():
        with suppress(AttributeError, TypeError, ValueError):
            setattr(rna, name, value)


@contextmanager
def neutral_output(scene):
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
        yield Output(scene)
    finally:
        _restore(s.display_settings, display)
        _restore(s.view_settings, view)
        s.color_management = mode
        _restore(s, formats)
