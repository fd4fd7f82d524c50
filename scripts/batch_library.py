"""The library folder batch.py writes: each model's folder tidied once its model.blend is complete,
and the optional index .blend that links every model.

    python batch_library.py LIBRARY_DIR INDEX.blend     # inside the bpy module's Python (batch.py runs it)

The index is written by a Blender of its own, after the batch: no add-on, no job engine, no threads.

A finished folder keeps model.blend (the asset: mesh, materials and the texture maps packed as their
PNG bytes), model.blend.json, the thumbnail, the input photos and the converter's log. The download
it was made from (model.glb and textures/*.png) is removed: model.blend holds all of it, and a second
copy of every model would double the library on disk.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SPACING = 3.0  # metres between the models of the index, ten to a row
ROW = 10


def tidy(folder: Path, files) -> int:
    """Remove what model.blend now holds (the GLB, the texture maps, partial downloads); bytes freed.

    ``files`` is the add-on's jobs.files (its names are the one definition of the folder's layout).
    Call only once finished_blend(folder) said the model.blend is complete."""
    freed = 0
    candidates = [folder / files.MODEL, folder / (files.MODEL + ".part")]
    candidates += [folder / files.texture_file_name(m) for m in files.TEXTURE_MAPS]
    candidates += [p.with_name(p.name + ".part") for p in candidates[2:]]
    for path in candidates:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        freed += size
    textures = folder / Path(files.texture_file_name(files.TEXTURE_MAPS[0])).parent
    try:
        textures.rmdir()  # only when empty: nothing of anyone else's goes
    except OSError:
        pass
    return freed


def complete_models(library: Path) -> list[tuple[str, str, str]]:
    """(name, model.blend, collection) of every folder whose model.blend is complete, in name order."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from meshy_blender.jobs import converter, files  # pure: the add-on's own completeness check and names

    models = []
    for folder in sorted(p for p in library.iterdir() if p.is_dir()):
        try:
            info = converter.finished_blend(folder)
        except converter.BlendNotReady:
            continue
        collection = info.get("collection") or ""
        if collection:
            models.append((collection, str(folder / files.BLEND), collection))
    return models


def write_index(bpy, path: Path, models: list[tuple[str, str, str]]) -> int:
    """A small .blend linking every model: one empty per model instancing its collection, on a grid.

    ``models``: (name for the empty, model.blend path, collection name). A link is a library path and
    a collection's name; Blender reads the collection from model.blend when the index is opened. So
    the models are never read here: each link is made against a stand-in .blend that holds only an
    empty collection of that name, then pointed at the model.blend (as File > External Data > Relocate
    would). Milliseconds a model, whatever its size. Written under a temporary name and renamed; no
    .blend1 backup. Returns the number of models linked."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Meshy library"
    linked = 0
    with tempfile.TemporaryDirectory(prefix="meshy-index-") as stand_ins:
        for name, blend, collection_name in models:
            stand_in = Path(stand_ins) / f"{linked}.blend"
            placeholder = bpy.data.collections.new(collection_name)
            bpy.data.libraries.write(str(stand_in), {placeholder})
            bpy.data.collections.remove(placeholder)
            with bpy.data.libraries.load(str(stand_in), link=True) as (_src, dst):
                dst.collections = [collection_name]
            collection = dst.collections[0]
            collection.library.filepath = blend
            empty = bpy.data.objects.new(name, None)
            empty.instance_type = "COLLECTION"
            empty.instance_collection = collection
            empty.location = ((linked % ROW) * SPACING, (linked // ROW) * SPACING, 0.0)
            scene.collection.objects.link(empty)
            linked += 1
        bpy.context.preferences.filepaths.save_version = 0  # no index.blend1
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, relative_remap=True)
    if "FINISHED" not in (result or ()) or not tmp.is_file():
        raise RuntimeError(f"Blender could not save {tmp}")
    os.replace(tmp, path)
    return linked


def main(argv: list[str]) -> int:
    library, index = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    import bpy

    count = write_index(bpy, index, complete_models(library))
    print(f"index: {index} ({count} models linked from {library})", flush=True)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # no interpreter teardown (bpy 4.2 can crash there); the file is written
