"""The converter's own script, run by path in a background Blender (never imported by the add-on).

    blender --background --factory-startup --offline-mode --python-exit-code 1 --python convert_child.py -- JSON
    python -s convert_child.py -- JSON          # the bpy module

JSON names the GLB, the job folder, the label, the tags, extra texture files and the thumbnail
(jobs/converter.py builds it). The script imports the GLB with the add-on's own importer code,
packs every image, marks the collection as an asset with the thumbnail as its preview, saves
under a temporary name, writes the result JSON and only then renames the file to model.blend.
A failure it understands ends with one line "MESHY-CONVERT-ERROR: <message>" and exit status 2.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path

import bpy

PREVIEW_SIZE = 256
_PACKAGE = "_meshy_converter"


def add_on_module(name: str):
    """A module of the add-on (e.g. "blender.importer"), loaded without any package's __init__.py:
    no registration code, no job engine, just the module and what it imports."""
    package_dir = Path(__file__).resolve().parents[1]
    for sub in ("", ".blender", ".jobs", ".meshy"):
        module = types.ModuleType(_PACKAGE + sub)
        module.__path__ = [str(package_dir / sub[1:]) if sub else str(package_dir)]
        sys.modules.setdefault(_PACKAGE + sub, module)
    return importlib.import_module(f"{_PACKAGE}.{name}")


files = add_on_module("jobs.files")
ERROR_MARKER = add_on_module("jobs.converter").ERROR_MARKER
BLEND, RESULT = files.BLEND, files.BLEND_RESULT


def importer_module():
    return add_on_module("blender.importer")


def request() -> dict:
    argv = sys.argv
    return json.loads(argv[argv.index("--") + 1])


def stay_offline() -> None:
    try:
        bpy.context.preferences.system.use_online_access = False
    except (AttributeError, RuntimeError, TypeError):
        pass  # --offline-mode already forbids it in the windowed Blender


def dump_environment(path: str) -> None:
    """Diagnostics (tests): what this process was given, to prove it holds no secret."""
    prefs = bpy.context.preferences
    data = {
        "environ": dict(os.environ),
        "argv": list(sys.argv),
        "addons": sorted(prefs.addons.keys()),
        "online_access": bool(bpy.app.online_access),
        "user_resources": [str(p) for p in Path(os.environ.get("BLENDER_USER_RESOURCES", "/nonexistent")).rglob("*")],
    }
    Path(path).write_text(json.dumps(data), encoding="utf-8")


def pack_images() -> None:
    """Every image inside the .blend, so the file stands alone when the folder moves."""
    for image in bpy.data.images:
        if image.packed_file is None and image.source == "FILE" and image.filepath:
            image.pack()


def set_preview(collection, thumbnail: str) -> None:
    """The thumbnail as the asset's preview, through pixels (no operator: see the design notes)."""
    if not thumbnail or not os.path.isfile(thumbnail):
        return
    try:
        image = bpy.data.images.load(thumbnail)
    except RuntimeError:
        print(f"Meshy: could not read the thumbnail {thumbnail!r}; the asset has no preview")
        return
    try:
        width, height = image.size
        if width and height:
            scale = min(1.0, PREVIEW_SIZE / max(width, height))
            if scale < 1.0:
                image.scale(max(1, round(width * scale)), max(1, round(height * scale)))
                width, height = image.size
            pixels = [0.0] * (width * height * 4)
            image.pixels.foreach_get(pixels)  # type: ignore[attr-defined]  # a bpy_prop_array
            preview = collection.preview_ensure()
            preview.image_size = (width, height)
            preview.image_pixels_float.foreach_set(pixels)
    finally:
        bpy.data.images.remove(image)


def mark_asset(collection, label: str, thumbnail: str) -> None:
    collection.asset_mark()
    data = collection.asset_data
    data.description = f"Meshy model: {label}"
    if "meshy" not in data.tags:
        data.tags.new("meshy")
    set_preview(collection, thumbnail)


def triangles(objects) -> int:
    total = 0
    for mesh in {o.data for o in objects if o.type == "MESH"}:
        mesh.calc_loop_triangles()
        total += len(mesh.loop_triangles)
    return total


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(folder: Path, collection, objects) -> None:
    """model.blend appears only complete: temporary name, result JSON, then the rename."""
    tmp = folder / f"{BLEND}.{os.getpid()}.part"
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups beside it
    result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, compress=False)
    if "FINISHED" not in (result or ()) or not tmp.is_file():
        raise RuntimeError(f"Blender could not save {tmp}")
    fsync_file(tmp)
    write_json(folder / RESULT, {
        "blend": BLEND,
        "blend_bytes": tmp.stat().st_size,
        "collection": collection.name,
        "objects": [o.name for o in objects],
        "triangles": triangles(objects),
        "blender": bpy.app.version_string,
    })
    os.replace(tmp, folder / BLEND)
    fsync_dir(folder)


def convert(job: dict) -> None:
    importer = importer_module()
    importer.check_file(job["glb"])
    bpy.ops.wm.read_homefile(use_empty=True)
    stay_offline()
    context = bpy.context
    scene = context.scene
    try:
        collection, objects = importer.build_model(
            context, scene, context.view_layer, job["glb"], name=job["label"] or "Meshy model",
            texture_files=job.get("textures") or {}, tags=job.get("tags") or {},
        )
        add_on_module("blender.convert_rig").finish(context, objects, job.get("clips") or {})  # rigs: clips
    except importer.ImportFailed:
        raise
    except Exception as exc:
        raise importer.ImportFailed(importer.failure_message(job["glb"], exc)) from exc
    pack_images()
    mark_asset(collection, job["label"], job.get("thumbnail", ""))
    save(Path(job["folder"]), collection, objects)


def die_with_parent(parent: int) -> None:
    """End at once when the Blender that started us is gone (SIGKILLed, crashed): an orphan converter
    must not write a model.blend while the next Blender converts the same folder. Linux: the kernel
    sends SIGKILL (PR_SET_PDEATHSIG; no thread of ours runs beside the importer). Elsewhere not needed
    as much: the next converter's clear_outputs() and the size check in model.blend.json still hold."""
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # gone before the call took effect
        os._exit(3)


def main() -> int:
    stay_offline()
    job = request()
    die_with_parent(int(job.get("parent") or 0))
    if job.get("dump"):
        dump_environment(job["dump"])
    importer = importer_module()
    try:
        convert(job)
    except importer.ImportFailed as exc:
        print(ERROR_MARKER + exc.user_message, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: everything is on disk, and bpy 4.2 can crash there
