"""Bring a converted model.blend into the scene: the main thread's only work when a model lands.

`bpy.data.libraries.load` appends (or links) the collection the converter saved, in milliseconds
where the glTF importer takes seconds. Placement, selection, the undo step and the exact rollback
are the importer's: the model lands as if it had been imported here. A model.blend that is
missing or incomplete (its result JSON does not match it) is refused, never appended.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..jobs import converter
from ..jobs import files as F
from .importer import ImportFailed, SceneEdit, move_roots, parent_collection, select_new, undo_push

_AGAIN = "Import the model again to convert it once more."


def append_model(
    context,
    folder: str,
    *,
    scene_name: str | None = None,
    collection_name: str | None = None,
    at_cursor: bool = True,
    link: bool = False,
) -> list[bpy.types.Object]:
    """Append the job folder's converted collection; return its objects (main mesh active).

    With link=True the collection stays in model.blend and one empty instancing it is placed
    instead (smaller .blend files, not editable); that empty is returned.
    """
    try:
        info = converter.finished_blend(folder)
    except converter.BlendNotReady as exc:
        raise ImportFailed(exc.user_message) from None
    blend = str(Path(folder) / F.BLEND)
    edit = SceneEdit(context, scene_name)
    libraries = {lib.as_pointer() for lib in bpy.data.libraries}
    try:
        collection = _load(blend, info.get("collection", ""), link)
        parent = parent_collection(edit.scene, collection_name)
        if link:
            objects = [_instance(collection, parent)]
        else:
            collection.asset_clear()  # the user's file is not an asset library; model.blend is
            _remove_new_libraries(libraries)  # 5.0 keeps an unused Library after an append
            parent.children.link(collection)
            objects = list(collection.all_objects)
            if not any(o.type == "MESH" for o in objects):
                raise ImportFailed(f"The converted model {blend!r} has no mesh. {_AGAIN}")
        if at_cursor:
            move_roots(objects, edit.scene.cursor.location)
        if link:
            _select_only(objects[0], edit.view_layer)
        else:
            select_new(objects, edit.view_layer)
    except Exception as exc:
        _remove_new_libraries(libraries)
        edit.rollback()
        if isinstance(exc, ImportFailed):
            raise
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ImportFailed(f"The converted model {blend!r} could not be appended ({detail}). {_AGAIN}") from exc
    undo_push()
    return objects


def _load(blend: str, name: str, link: bool):
    """The named collection from the file, appended or linked (with everything it uses)."""
    with bpy.data.libraries.load(blend, link=link) as (source, target):  # type: ignore[attr-defined]  # stub: None
        found = name in source.collections
        target.collections = [name] if found else []
    collection = target.collections[0] if found and target.collections else None
    if collection is None:
        raise ImportFailed(f"The converted model {blend!r} holds no collection {name!r}. {_AGAIN}")
    return collection


def _instance(collection, parent):
    """An empty showing the linked collection, named after it, in the target collection."""
    empty = bpy.data.objects.new(collection.name, None)
    empty.instance_type = "COLLECTION"
    empty.instance_collection = collection
    parent.objects.link(empty)
    return empty


def _select_only(obj, view_layer) -> None:
    for other in list(view_layer.objects.selected):
        if other is not None:
            other.select_set(False, view_layer=view_layer)
    obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = obj


def _remove_new_libraries(before: set[int]) -> None:
    """Libraries added since `before`, with any data linked from them (a failed link, or the unused
    one Blender 5.0 leaves after an append: removing it keeps the appended, local data)."""
    for lib in list(bpy.data.libraries):
        if lib.as_pointer() not in before:
            bpy.data.libraries.remove(lib)
