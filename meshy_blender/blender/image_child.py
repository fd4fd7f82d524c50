"""The image child's script, run by path in a background Blender (never imported by the add-on).

    blender --background --factory-startup --offline-mode --python-exit-code 1 --python image_child.py -- JSON
    python -s image_child.py -- JSON          # the bpy module

JSON names the .blend holding one generated image's datablock (its settings, no pixels), the image,
the upload's size and the PNG to write (jobs/image_render.py builds it). The image is appended, Blender
generates its pixels as the user's Blender does, and they become the PNG through the add-on's own
image_pixels.read and encode.png: the bytes the user's Blender would have sent. The PNG appears
only complete (temporary name, then the rename). A failure ends with one "MESHY-CONVERT-ERROR:" line.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import bpy


def _sibling(name: str):
    """The converter's script, for its module loader and process rules (one definition of each)."""
    path = Path(__file__).resolve().with_name(name)
    spec = importlib.util.spec_from_file_location("_meshy_" + path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


child = _sibling("convert_child.py")


def render(job: dict) -> None:
    pixels_module = child.add_on_module("blender.image_pixels")
    encode = child.add_on_module("jobs.encode")
    with bpy.data.libraries.load(job["blend"]) as (source, target):  # type: ignore[attr-defined]  # stub: None
        if job["image"] not in source.images:
            raise LookupError(f"no image {job['image']!r} in {job['blend']}")
        target.images = [job["image"]]
    image = target.images[0]
    if 0 in image.size[:] or not image.has_data:  # asking for the size generates the pixels
        raise LookupError(f"Blender made no pixels for {job['image']!r}")
    alpha = pixels_module.has_alpha(image)
    data = encode.png(pixels_module.read(image, alpha), int(job["width"]), int(job["height"]))
    out = Path(job["png"])
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, out)


def main() -> int:
    child.stay_offline()
    job = child.request()
    child.die_with_parent(int(job.get("parent") or 0))
    try:
        render(job)
    except Exception as exc:  # the parent shows this line as the job's message
        print(f"{child.ERROR_MARKER}The generated image could not be made for upload ({type(exc).__name__}: {exc}). "
              "Nothing was sent to Meshy: submit it again.", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown (bpy 4.2 can crash there)
