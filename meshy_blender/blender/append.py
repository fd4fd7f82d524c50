"""Bring a converted model.blend into the scene: the main thread's only work when a model lands.

`bpy.data.libraries.load` appends (or links) the collection the converter saved, in milliseconds
where the glTF importer takes seconds. Placement, selection, the undo step and the exact rollback
are the importer's: the model lands as if it had been imported here. A model.blend that is
missing or incomplete (its result JSON does not match it) is refused, never appended.

Reading a 1M-triangle model with three 2048² maps still takes tens of milliseconds, so `Landing`
splits it into stages, one per `step()` (the pump runs one per TIMER event): the images are linked,
then the meshes (reading their materials, reusing the images), then the collection is linked
(reading what is left and reusing the rest) and made local in place, which is what an append
does, then placed and selected, with one undo step. Until that last stage the file only holds
unused linked data of a library that is ours alone; a failure anywhere removes it, so the user's
data is as it was. Nothing bpy is kept between steps (an undo or File > Revert in between frees
it): only the file's path and names; when what the earlier stages read is gone, they run again.
Where the file is linked here already (Link Models, the Asset Browser), it is appended in one step.
`append_model` runs all stages at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from ..jobs import converter
from ..jobs import files as F
from ..meshy.errors import ReportableError
from .importer import ImportFailed, SceneEdit, move_roots, parent_collection, select_new, undo_push

_AGAIN = "Import the model again to convert it once more."
# Blender 5.3 frees a collection made local in place ("StructRNA of type Collection has been removed"):
# there the model lands in one step, appended the plain way.
STAGED = bpy.app.version < (5, 3, 0)
PRELOAD = ("images", "meshes", "collections")  # the stages before the last: each reads one kind of data
# Made local users first (an ID with a linked user would be copied, not made local): the collection,
# the objects (children before parents), object data, materials, node groups, then the rest.
_RANK = {"COLLECTION": 0, "OBJECT": 1, "MATERIAL": 3, "NODETREE": 4, "IMAGE": 5}
_DATA_RANK = 2  # object data: meshes, armatures, curves, lights, cameras ...
_OBJECT_DATA = {"MESH", "ARMATURE", "CURVE", "CURVES", "LIGHT", "CAMERA", "LATTICE", "META", "POINTCLOUD",
                "VOLUME", "GREASEPENCIL", "GREASEPENCIL_V3", "SPEAKER", "LIGHT_PROBE", "FONT"}


class Landing:
    """One converted model landing over several short steps; see the module docstring."""

    def __init__(self, folder: str, *, link: bool = False):
        try:
            info = converter.finished_blend(folder)
        except converter.BlendNotReady as exc:
            raise ImportFailed(exc.user_message) from None
        self.blend = str(Path(folder) / F.BLEND)
        self.name = info.get("collection", "")
        self.link = link
        self.stages = len(PRELOAD) + 1
        self._done: int | None = None  # preload stages done; None before the first step
        self._names: dict[str, list[str]] = {}  # what the file holds (bpy.data attribute -> names)
        self._linked = False  # the earlier stages made the file's Library (it is ours alone)

    @property
    def stage(self) -> int:
        """The next stage to run, from 1 to `stages` (the last one lands the model)."""
        self._plan()
        return min(self._done or 0, len(PRELOAD)) + 1

    def _plan(self) -> None:
        """Where the landing starts: at the first stage, or at the last when it lands in one step."""
        if self._done is None:
            staged = STAGED and _library(self.blend) is None  # linked here already (or 5.3): one step
            self._done = 0 if staged else len(PRELOAD)
        elif self._linked and _library(self.blend) is None:
            self._done, self._linked = 0, False  # what the earlier stages read is gone (undo, revert): again

    def step(self, context, *, scene_name: str | None = None, collection_name: str | None = None,
             at_cursor: bool = True) -> list[bpy.types.Object] | None:
        """Run the next stage: the model's objects once it is in the scene (main mesh active), else None.

        ImportFailed when it cannot land; the user's data is then as before the first stage.
        """
        self._plan()
        assert self._done is not None
        if self._done < len(PRELOAD):
            try:
                self._names = _link_all(self.blend, PRELOAD[self._done])
            except Exception as exc:
                self.cancel()
                raise ImportFailed(_unreadable(self.blend, exc)) from exc
            self._linked = self._linked or _library(self.blend) is not None
            self._done += 1
            return None
        target = {"scene_name": scene_name, "collection_name": collection_name, "at_cursor": at_cursor}
        names, self._done, self._names, self._linked = self._names, None, {}, False
        if not names:
            return _append_once(context, self.blend, self.name, self.link, **target)
        try:
            return _land(context, self.blend, self.name, names, self.link, **target)
        except _NotInPlace:  # a dependency Blender would only copy: append it the plain way, in this step
            return _append_once(context, self.blend, self.name, self.link, **target)

    def cancel(self) -> None:
        """Remove what the earlier stages read (nothing uses it yet); the landing may start again."""
        if self._linked:
            _remove_library(self.blend, self._names)
        self._done, self._names, self._linked = None, {}, False


def append_model(
    context,
    folder: str,
    *,
    scene_name: str | None = None,
    collection_name: str | None = None,
    at_cursor: bool = True,
    link: bool = False,
) -> list[bpy.types.Object]:
    """Append the job folder's converted collection now, all stages at once; return its objects.

    With link=True the collection stays in model.blend and one empty instancing it is placed
    instead (smaller .blend files, not editable); that empty is returned.
    """
    landing = Landing(folder, link=link)
    while True:
        objects = landing.step(context, scene_name=scene_name, collection_name=collection_name, at_cursor=at_cursor)
        if objects is not None:
            return objects


# --------------------------------------------------------------------------- the stages


def _link_all(blend: str, kind: str) -> dict[str, list[str]]:
    """Link every datablock of one kind (`bpy.data` attribute) from the file; what the file holds."""
    with bpy.data.libraries.load(blend, link=True) as (source, target):  # type: ignore[attr-defined]  # stub: None
        names = {attr: list(getattr(source, attr)) for attr in dir(source)}
        setattr(target, kind, list(names.get(kind, ())))
    return names


class _NotInPlace(ReportableError):
    """Making the model local would copy some of it: the staged landing was undone, append it plainly
    (never reaches the user: Landing.step appends in one step instead)."""


def _land(context, blend: str, name: str, names: dict[str, list[str]], link: bool, *, scene_name, collection_name,
          at_cursor) -> list:
    """The last stage: the collection linked (reusing what the earlier stages read), made local, placed."""
    edit = SceneEdit(context, scene_name, snapshot=False)  # every datablock added here is in `ours`
    ours: list = []
    try:
        library = _library(blend)
        collection = _find(bpy.data.collections, name, library) or _load(blend, name, link=True)
        if collection.users:  # linked meanwhile by the user (Asset Browser): theirs, never made local here
            raise _NotInPlace(collection.name)
        ours = _linked_from(library or _library(blend), names)
        parent = parent_collection(edit.scene, collection_name)
        if link:
            ours = _drop_unused(ours, keep=collection)
            objects = [_instance(collection, parent)]
            ours.append(objects[0])
        else:
            _make_local(ours, collection)
            collection.asset_clear()  # the user's file is not an asset library; model.blend is
            ours = [id_ for id_ in ours if id_.library is None]  # the rest goes with the library
            _remove_library(blend, names)
            parent.children.link(collection)
            objects = list(collection.all_objects)
            if not any(o.type == "MESH" for o in objects):
                raise ImportFailed(f"The converted model {blend!r} has no mesh. {_AGAIN}")
        _place(edit, objects, link, at_cursor)
    except Exception as exc:
        if ours:
            bpy.data.batch_remove(ids=ours)
        _remove_library(blend, names)
        edit.rollback()
        if isinstance(exc, ImportFailed | _NotInPlace):
            raise
        raise ImportFailed(_not_appended(blend, exc)) from exc
    undo_push()
    return objects


def _append_once(context, blend: str, name: str, link: bool, *, scene_name, collection_name, at_cursor) -> list:
    """The whole append in one step (the file is linked here already: its data may be the user's too)."""
    edit = SceneEdit(context, scene_name)
    libraries = {lib.as_pointer() for lib in bpy.data.libraries}
    try:
        collection = _load(blend, name, link)
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
        _place(edit, objects, link, at_cursor)
    except Exception as exc:
        _remove_new_libraries(libraries)
        edit.rollback()
        if isinstance(exc, ImportFailed):
            raise
        raise ImportFailed(_not_appended(blend, exc)) from exc
    undo_push()
    return objects


def _place(edit: SceneEdit, objects: list, link: bool, at_cursor: bool) -> None:
    if at_cursor:
        move_roots(objects, edit.scene.cursor.location)
    if link:
        _select_only(objects[0], edit.view_layer)
    else:
        select_new(objects, edit.view_layer)


def _not_appended(blend: str, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"The converted model {blend!r} could not be appended ({detail}). {_AGAIN}"


def _unreadable(blend: str, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"The converted model {blend!r} could not be read ({detail}). {_AGAIN}"


# --------------------------------------------------------------------------- libraries and their data


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.normpath(a)) == os.path.normcase(os.path.normpath(b))


def _library(blend: str):
    """The Library of this file in bpy.data, if it is linked here."""
    for lib in bpy.data.libraries:
        if _same_file(bpy.path.abspath(lib.filepath), blend):
            return lib
    return None


def _remove_library(blend: str, names: dict[str, list[str]]) -> None:
    """The file's Library and every datablock still linked from it, unless the user instanced one of
    its collections meanwhile (the Asset Browser): then it is theirs; unused data goes when they save."""
    lib = _library(blend)
    if lib is not None and not any(c.users for c in _linked_from(lib, {"collections": names.get("collections", [])})):
        bpy.data.libraries.remove(lib)


def _find(data, name: str, library):
    """The datablock `name` linked from `library` (None: not linked, or no library)."""
    return data.get((name, library.filepath)) if library is not None else None


def _linked_from(library, names: dict[str, list[str]]) -> list:
    """Every datablock linked from `library`, found by the names the file holds (no walk over the user's data)."""
    found = []
    for attr, listed in names.items():
        data = getattr(bpy.data, attr, None)
        if not isinstance(data, bpy.types.bpy_prop_collection):
            continue  # a name the file lists that bpy.data has as something else (5.x)
        for name in listed:
            id_ = _find(data, name, library)
            if id_ is not None:
                found.append(id_)
    return found


def _drop_unused(ids: list, keep) -> list:
    """Remove linked datablocks nothing uses (read by an earlier stage, not part of the model); the rest."""
    unused = [id_ for id_ in ids if id_.users == 0 and id_ != keep]
    if unused:
        bpy.data.batch_remove(ids=unused)
    pointers = {id_.as_pointer() for id_ in unused}
    return [id_ for id_ in ids if id_.as_pointer() not in pointers]


def _rank(id_, depth: dict[int, int]) -> tuple[int, int]:
    kind = id_.id_type
    rank = _RANK.get(kind, _DATA_RANK if kind in _OBJECT_DATA else len(_RANK) + 1)
    return rank, -depth.get(id_.as_pointer(), 0)


def _make_local(ours: list, collection) -> None:
    """Make the model local in place, as an append does: each datablock after all of its users.

    A datablock only linked data uses stays linked for a later pass; what nothing local ever uses
    (read by an earlier stage, not part of the model) stays linked and goes with the library.
    Copies are never made (they would leave the model half linked): `_NotInPlace` then, with the
    copy added to `ours` so the caller removes it too.
    """
    depth = {}
    for obj in collection.all_objects:  # children before parents: a child uses its parent
        n, parent = 0, obj.parent
        while parent is not None:
            n, parent = n + 1, parent.parent
        depth[obj.as_pointer()] = n
    for coll in collection.children_recursive:  # parents before children: a parent uses its children
        depth[coll.as_pointer()] = -1 - len(depth)
    pending = sorted((id_ for id_ in ours if id_ == collection or id_.users > 0), key=lambda i: _rank(i, depth))
    while pending:
        left = []
        for id_ in pending:
            local = id_.make_local()
            if local.as_pointer() != id_.as_pointer():
                ours.append(local)
                raise _NotInPlace(id_.name)
            if id_.library is not None:
                left.append(id_)  # used by linked data only, so far
        if len(left) == len(pending):
            return  # only unused linked data uses these
        pending = left


def _remove_new_libraries(before: set[int]) -> None:
    """Libraries added since `before`, with any data linked from them (a failed link, or the unused
    one Blender 5.0 leaves after an append: removing it keeps the appended, local data)."""
    for lib in list(bpy.data.libraries):
        if lib.as_pointer() not in before:
            bpy.data.libraries.remove(lib)


# --------------------------------------------------------------------------- the collection


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
