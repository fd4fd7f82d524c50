"""The converter's own script, run by path in a background Blender (never imported by the add-on).

    blender --background --factory-startup --offline-mode --python-exit-code 1 --python convert_child.py -- JSON
    python -s convert_child.py -- JSON          # the bpy module

JSON names the GLB, the job folder, the label, the tags, extra texture files and the thumbnail
(jobs/converter.py builds it). The script imports the GLB with the add-on's own importer code,
packs every image, marks the collection as an asset (the thumbnail as its preview, else a rendered
one; the catalog, added to the library's blender_assets.cats.txt; tags; a description), saves
under a temporary name, writes the result JSON and only then renames the file to model.blend.
A failure it understands ends with one line "MESHY-CONVERT-ERROR: <message>" and exit status 2.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
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


def set_preview(collection, thumbnail: str) -> bool:
    """The thumbnail (or a rendered picture) as the asset's preview, through pixels (no operator: see the
    design notes). False when the file gave no pixels."""
    if not thumbnail or not os.path.isfile(thumbnail):
        return False
    try:
        image = bpy.data.images.load(thumbnail)
    except RuntimeError:
        print(f"Meshy: could not read the preview picture {thumbnail!r}")
        return False
    try:
        width, height = image.size
        if not (width and height):
            return False
        scale = min(1.0, PREVIEW_SIZE / max(width, height))
        if scale < 1.0:
            image.scale(max(1, round(width * scale)), max(1, round(height * scale)))
            width, height = image.size
        pixels = [0.0] * (width * height * 4)
        image.pixels.foreach_get(pixels)  # type: ignore[attr-defined]  # a bpy_prop_array
        preview = collection.preview_ensure()
        preview.image_size = (width, height)
        preview.image_pixels_float.foreach_set(pixels)
        return True
    finally:
        bpy.data.images.remove(image)


def frame_camera(scene, objects):
    """A camera looking at the model from the front-right and above, the whole model in view."""
    from mathutils import Vector

    corners = [o.matrix_world @ Vector(c) for o in objects if o.type == "MESH" for c in o.bound_box]
    if not corners:
        return None
    low = Vector([min(c[i] for c in corners) for i in range(3)])
    high = Vector([max(c[i] for c in corners) for i in range(3)])
    center, radius = (low + high) / 2, max((high - low).length / 2, 1e-3)
    data = bpy.data.cameras.new("Meshy preview camera")
    data.lens_unit, data.angle = "FOV", math.radians(40.0)
    data.clip_start, data.clip_end = radius * 0.01, radius * 100
    camera = bpy.data.objects.new("Meshy preview camera", data)
    scene.collection.objects.link(camera)
    direction = Vector((0.55, -1.0, 0.45)).normalized()
    camera.location = center + direction * (radius / math.sin(data.angle / 2) * 1.05)
    camera.rotation_euler = (center - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    return camera


def render_preview(scene, objects, out: Path) -> bool:
    """A 256^2 picture of the model when Meshy sent no thumbnail: Workbench with the model's textures
    (milliseconds to seconds, also on software OpenGL), else Cycles on the CPU where no GPU context exists."""
    camera = frame_camera(scene, objects)
    if camera is None:
        return False
    render = scene.render
    render.resolution_x = render.resolution_y = PREVIEW_SIZE
    render.resolution_percentage = 100
    render.film_transparent = True
    render.image_settings.file_format, render.image_settings.color_mode = "PNG", "RGBA"
    scene.view_settings.view_transform = "Standard"  # the colours as they are, as Meshy's thumbnails
    render.filepath = str(out)
    try:
        for engine in ("BLENDER_WORKBENCH", "CYCLES"):
            try:
                render.engine = engine
                if engine == "CYCLES":
                    scene.cycles.device, scene.cycles.samples = "CPU", 16
                    world = scene.world or bpy.data.worlds.new("Meshy preview light")
                    scene.world = world
                    world.color = (1.0, 1.0, 1.0)
                else:
                    shading = scene.display.shading
                    shading.light, shading.color_type = "STUDIO", "TEXTURE"
                bpy.ops.render.render(write_still=True)
                if out.is_file():
                    return True
            except (RuntimeError, TypeError, AttributeError) as exc:
                print(f"Meshy: rendering a preview with {engine} failed ({exc})")
        return False
    finally:
        data = camera.data
        bpy.data.objects.remove(camera)
        bpy.data.cameras.remove(data)


def mark_asset(collection, objects, job: dict) -> None:
    """The asset the Asset Browser shows: catalog, tags, description, preview."""
    collection.asset_mark()
    data = collection.asset_data
    data.description = job.get("description") or f"Meshy model: {job['label']}"
    data.author = "Meshy"
    for tag in job.get("asset_tags") or ["meshy"]:
        if tag not in data.tags:
            data.tags.new(tag)
    set_catalog(data, job)
    # Preview pixels go in without an operator; no thread of ours runs beside them either (logged for the tests).
    print(f"Meshy: setting the preview with {threading.active_count()} Python thread(s) running")
    if set_preview(collection, job.get("thumbnail", "")):
        return
    folder = tempfile.mkdtemp(prefix="meshy-preview-")
    try:
        out = Path(folder) / "preview.png"
        if render_preview(bpy.context.scene, objects, out) and set_preview(collection, str(out)):
            print("Meshy: no thumbnail; the preview was rendered")
        else:
            print("Meshy: the asset has no preview (no thumbnail, and rendering one failed)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        result = bpy.data.images.get("Render Result")
        if result is not None:
            bpy.data.images.remove(result)


def set_catalog(data, job: dict) -> None:
    """The model's catalog ("Meshy", or "Meshy/<batch>"), added to the library's catalog file."""
    catalogs = add_on_module("jobs.catalogs")
    parts = job.get("catalog") or [catalogs.ROOT]
    try:
        catalog = catalogs.ensure(job.get("library") or str(Path(job["folder"]).parent), parts)
    except OSError as exc:  # the asset still names the catalog a writer adds; Blender shows it once one does
        print(f"Meshy: the asset catalog file could not be updated ({exc})")
        catalog = catalogs.wanted(parts)
    data.catalog_id = catalog.uuid
    try:  # the name Blender falls back on when the UUID is not in the file (read-only in some versions)
        data.catalog_simple_name = catalog.simple_name
    except AttributeError:
        pass


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


def save(folder: Path, collection, objects, compress: bool = False) -> None:
    """model.blend appears only complete: temporary name, result JSON, then the rename.
    Images stay packed as their PNG/JPEG bytes; ``compress`` (zstd) shrinks the mesh data."""
    tmp = folder / f"{BLEND}.{os.getpid()}.part"
    bpy.context.preferences.filepaths.save_version = 0  # no .blend1 backups beside it
    result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, compress=compress)
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
    fps, base = job.get("fps") or (0, 1.0)
    if fps:  # the glTF importer keys clips at the scene's rate: the rate of the scene they land in
        scene.render.fps, scene.render.fps_base = int(fps), float(base)
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
    mark_asset(collection, objects, job)
    save(Path(job["folder"]), collection, objects, compress=bool(job.get("compress")))


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
