"""A generated image's upload, made by a background Blender: this Blender never reads its pixels.

A generated image nobody painted (not dirty) is fully described by its settings (type, size,
colour, float buffer, alpha, colour space): Blender itself keeps only those in a .blend and makes
the pixels again when they are needed. So the main thread writes that one datablock to a private
temporary folder (`bpy.data.libraries.write`: a small file, whatever the image's size); the engine's
worker starts an image child (jobs/image_render.py) and awaits it before anything is sent: the child
makes the same pixels and the same PNG the deferred path (image_pixels.read + encode.png) would.
Checked here without touching the pixels (the size is `generated_width` / `generated_height`; asking
for `size` would make them). Where no child can start, the caller reads the pixels here as before,
said once per session (a start that fails on the worker ends that job with a message, and the next
uploads read their pixels here).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import bpy

from . import image_pixels, report, runtime

_told = {"done": False}


def can_recreate(image) -> bool:
    """A generated image whose pixels are its settings' (never painted), in a colour space encode.py keeps."""
    if image.source != "GENERATED" or image.library is not None or image.packed_file is not None:
        return False
    if image.is_dirty or min(image.generated_width, image.generated_height) < 1:
        return False
    return image_pixels.exact_colours(image.colorspace_settings, bool(image.use_generated_float))


def launcher():
    """The converter's launcher running the image child; None where no child can start (told once)."""
    from ..jobs import image_render

    eng = runtime.engine_if_started()
    base = eng.settings.converter if eng is not None else runtime.converter_launcher()
    if base is None:
        return None
    chosen = image_render.launcher_for(base)
    problem = image_render.problem(chosen)
    if problem:
        _tell(problem)
        return None
    return chosen


def start(image, width: int, height: int):
    """Start the child for `image` at width x height; the worker's encoder (-> PNG bytes), or None."""
    from ..jobs.image_render import Render

    chosen = launcher()
    if chosen is None:
        return None
    folder = tempfile.mkdtemp(prefix="meshy-image-")
    blend = os.path.join(folder, "image.blend")
    try:
        bpy.data.libraries.write(blend, {image}, fake_user=True)
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _tell(f"The settings of generated images could not be written for a background Blender ({exc}).")
        return None
    return Render(chosen, folder, blend, image.name, width, height).result


def _tell(problem: str) -> None:
    if not _told["done"]:
        _told["done"] = True
        report.tell("WARNING", f"{problem} Generated images are read inside this Blender, which pauses for large ones.")
