"""Import a downloaded Meshy GLB with Blender's own glTF importer, PBR maps wired, as one undo step.

Main thread only; no network, no waiting. On any failure the file's data is left exactly as it was:
every datablock created during the attempt is removed and the user's mode and selection restored.
"""

from __future__ import annotations

import os
import re

import bpy

from ..meshy.errors import ReportableError
from .pbr import wire_material

UNDO_MESSAGE = "Import Meshy model"

# bpy.data collections the importer never adds to and that cannot be removed like ordinary data.
_SKIP_DATA = {"window_managers", "screens", "workspaces", "libraries"}
_GLB_MAGIC = b"glTF"
_NUMBERED = re.compile(r"\.\d{3,}$")  # Blender's ".001" suffix of a taken name


class ImportFailed(ReportableError):
    """The model could not be imported; `.user_message` says what is wrong and what to do."""


def import_model(
    context,
    glb_path: str,
    *,
    name: str,
    texture_files: dict[str, str] | None = None,
    scene_name: str | None = None,
    collection_name: str | None = None,
    at_cursor: bool = True,
    tags: dict[str, str] | None = None,
) -> list[bpy.types.Object]:
    """Import glb_path into a new collection named `name`; return the new objects (main mesh active)."""
    check_file(glb_path)
    edit = SceneEdit(context, scene_name)
    try:
        _, objects = build_model(
            context, edit.scene, edit.view_layer, glb_path, name=name, collection_name=collection_name,
            texture_files=texture_files, at_cursor=at_cursor, tags=tags,
        )
    except Exception as exc:
        edit.rollback()
        if isinstance(exc, ImportFailed):
            raise
        raise ImportFailed(failure_message(glb_path, exc)) from exc
    undo_push()
    return objects


def build_model(
    context, scene, view_layer, glb_path: str, *, name: str, collection_name: str | None = None,
    texture_files: dict[str, str] | None = None, at_cursor: bool = False, tags: dict[str, str] | None = None,
):
    """The import itself, shared with the converter: a new collection, glTF, tags, PBR wired, selected.

    Returns (collection, objects). No rollback and no undo step: the caller owns those.
    """
    collection = _new_collection(scene, collection_name, name)
    objects = _run_gltf(context, scene, view_layer, collection, glb_path)
    _finish(objects, collection, scene, view_layer, texture_files or {}, at_cursor, tags or {})
    _name_after(objects, name or "Meshy model")
    return collection, objects


class SceneEdit:
    """The target scene, left in Object mode, with a snapshot to undo a failed attempt exactly.

    Shared by the glTF import and the append of a converted model.blend. ``snapshot=False`` for a
    caller that knows every datablock it adds (the staged append): the snapshot walks all of the
    user's data, tens of milliseconds in a large file.
    """

    def __init__(self, context, scene_name: str | None, *, snapshot: bool = True):
        self.context = context
        self.scene = _target_scene(context, scene_name)
        self.view_layer = _view_layer(context, self.scene)
        self._state = _UserState.capture(self.view_layer)
        _leave_edit_modes(context, self.view_layer)
        self._before = _snapshot() if snapshot else None

    def rollback(self) -> None:
        """Remove every datablock made since the start (with a snapshot); mode and selection as the user had them."""
        if self._before is not None:
            _rollback(self._before)
        self._state.restore(self.context)


# --------------------------------------------------------------------------- checks and targets


def check_file(path: str) -> None:
    """Cheap checks before touching the scene, so common mistakes give a clear message."""
    if not path or not os.path.isfile(path):
        raise ImportFailed(f"The model file {path!r} does not exist. Download the model again.")
    with open(path, "rb") as f:
        head = f.read(12)
    size = os.path.getsize(path)
    if len(head) < 12 or head[:4] != _GLB_MAGIC:
        raise ImportFailed(f"The model file {path!r} is not a GLB file (corrupt download?). Download it again.")
    if int.from_bytes(head[8:12], "little") != size:
        raise ImportFailed(f"The model file {path!r} is truncated or corrupt ({size} bytes). Download it again.")


def failure_message(path: str, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"The model file {path!r} could not be imported ({detail}). Download it again or report the task."


def _target_scene(context, scene_name: str | None):
    """The named scene if it still exists, else the current one (the user may have deleted it)."""
    scene = bpy.data.scenes.get(scene_name) if scene_name else None
    return scene or context.scene or bpy.data.scenes[0]


def _view_layer(context, scene):
    """The view layer the user sees; a timer's context may have none, another scene uses its first."""
    if scene == context.scene and context.view_layer is not None:
        return context.view_layer
    return scene.view_layers[0]


def parent_collection(scene, collection_name: str | None):
    """The named collection if it is still in this scene, else the scene's master collection."""
    if collection_name:
        for coll in scene.collection.children_recursive:
            if coll.name == collection_name:
                return coll
    return scene.collection


def _new_collection(scene, collection_name: str | None, name: str):
    collection = bpy.data.collections.new(name or "Meshy model")  # Blender makes the name unique
    parent_collection(scene, collection_name).children.link(collection)
    return collection


# --------------------------------------------------------------------------- mode and user state


def _leave_edit_modes(context, view_layer) -> None:
    """Switch to Object mode as a user would; the glTF importer and selection need it."""
    obj = view_layer.objects.active
    if obj is None or obj.mode == "OBJECT":
        return
    with context.temp_override(**_mode_override(context, view_layer, obj)):
        if bpy.ops.object.mode_set.poll():  # type: ignore[call-arg]  # the context is optional
            bpy.ops.object.mode_set(mode="OBJECT")
    if obj.mode != "OBJECT":
        raise ImportFailed(
            f"Could not leave {obj.mode.title()} mode on {obj.name!r}. Switch to Object Mode and import again."
        )


def _mode_override(context, view_layer, obj) -> dict:
    """Context for mode_set from a timer or modal handler: the object, and a window if there is none."""
    override = {"view_layer": view_layer, "active_object": obj, "object": obj}
    windows = context.window_manager.windows if context.window_manager else ()
    if context.window is None and windows:
        override["window"] = windows[0]
    return override


class _UserState:
    """Mode, selection and active object, put back when an import fails."""

    def __init__(self, view_layer, active, mode, selected):
        self.view_layer, self.active, self.mode, self.selected = view_layer, active, mode, selected

    @classmethod
    def capture(cls, view_layer):
        active = view_layer.objects.active
        return cls(view_layer, active, active.mode if active else "OBJECT", list(view_layer.objects.selected))

    def restore(self, context) -> None:
        layer_objects = self.view_layer.objects
        try:
            for obj in list(layer_objects.selected):
                if obj is not None:  # a removed object can linger as None until the layer resyncs
                    obj.select_set(False, view_layer=self.view_layer)
            for obj in self.selected:
                obj.select_set(True, view_layer=self.view_layer)
            layer_objects.active = self.active
            if self.active is not None and self.mode != "OBJECT":
                with context.temp_override(**_mode_override(context, self.view_layer, self.active)):
                    bpy.ops.object.mode_set(mode=self.mode)
        except (ReferenceError, RuntimeError, TypeError):
            pass  # best effort: the data itself is already restored


# --------------------------------------------------------------------------- datablock snapshot


def _data_collections():
    for prop in bpy.data.bl_rna.properties:
        if prop.type == "COLLECTION" and prop.identifier not in _SKIP_DATA:
            yield getattr(bpy.data, prop.identifier)


def _snapshot() -> set[int]:
    """Pointers of every datablock, to find what an import attempt created."""
    return {id_.as_pointer() for coll in _data_collections() for id_ in coll}


def _new_ids(before: set[int]) -> list:
    return [id_ for coll in _data_collections() for id_ in coll if id_.as_pointer() not in before]


def _rollback(before: set[int]) -> None:
    """Remove every datablock created since the snapshot."""
    new = _new_ids(before)
    if new:
        bpy.data.batch_remove(ids=new)


# --------------------------------------------------------------------------- the import


def _run_gltf(context, scene, view_layer, collection, glb_path: str) -> list:
    """Run Blender's glTF importer with our collection active; return the new objects in it."""
    known = {o.as_pointer() for o in bpy.data.objects}
    layer = _layer_collection(view_layer.layer_collection, collection)
    previous = view_layer.active_layer_collection
    if layer is not None:
        view_layer.active_layer_collection = layer
    try:
        with context.temp_override(scene=scene, view_layer=view_layer, collection=collection):
            result = bpy.ops.import_scene.gltf(filepath=glb_path)
    finally:
        _restore_active_layer(view_layer, previous)
    if "FINISHED" not in (result or ()):
        raise ImportFailed(f"Blender's glTF importer could not read {glb_path!r}. Download the model again.")
    objects = [o for o in bpy.data.objects if o.as_pointer() not in known]
    _adopt(objects, collection)
    if not any(o.type == "MESH" for o in objects):
        raise ImportFailed("The model file has no mesh. Generate the model again or report the task to Meshy.")
    return objects


def _layer_collection(layer, collection):
    if layer.collection == collection:
        return layer
    for child in layer.children:
        found = _layer_collection(child, collection)
        if found is not None:
            return found
    return None


def _restore_active_layer(view_layer, previous) -> None:
    try:
        view_layer.active_layer_collection = previous
    except (ReferenceError, RuntimeError, TypeError):
        pass


def _adopt(objects, collection) -> None:
    """Move new objects the importer linked elsewhere (4.2 links to the scene root) into our collection."""
    inside = {collection, *collection.children_recursive}
    for obj in objects:
        users = list(obj.users_collection)
        if not any(c in inside for c in users):
            collection.objects.link(obj)
        for coll in users:
            if coll not in inside:
                coll.objects.unlink(obj)


def _finish(objects, collection, scene, view_layer, texture_files, at_cursor, tags) -> None:
    if at_cursor:
        move_roots(objects, scene.cursor.location)
    _tag(objects, collection, tags)
    for material in _materials(objects):
        wire_material(material, texture_files)
    select_new(objects, view_layer)


def move_roots(objects, offset) -> None:
    """Shift root objects only, so children keep their transforms relative to their parents."""
    new = set(objects)
    for obj in objects:
        if obj.parent is None or obj.parent not in new:
            obj.location = obj.location + offset


def _tag(objects, collection, tags) -> None:
    for key, value in tags.items():
        collection[key] = value
        for obj in objects:
            obj[key] = value


def _materials(objects) -> list:
    seen = {}
    for obj in objects:
        for slot in obj.material_slots:
            if slot.material is not None:
                seen[slot.material.as_pointer()] = slot.material
    return list(seen.values())


def _name_after(objects, name: str) -> None:
    """Name the model after the job, as its collection is: a user looks for "chair" in the Outliner.

    The main object (the largest mesh, the one made active) and its mesh take the name itself; the
    other objects keep their glTF node name behind it ("chair_Root"), so every part is found by the
    name and a multi-part model still shows its structure. Blender adds ".001" when a name is taken.
    """
    main = _main_mesh(objects)
    for obj in objects:
        if obj is not main:
            obj.name = f"{name}_{_NUMBERED.sub('', obj.name)}"
    main.name = name
    if main.data.users == 1:
        main.data.name = name


def _main_mesh(objects):
    meshes = [o for o in objects if o.type == "MESH"]
    return max(meshes, key=lambda o: len(o.data.polygons))


def select_new(objects, view_layer) -> None:
    """Only the new objects selected; the largest mesh active."""
    for obj in list(view_layer.objects.selected):
        if obj is not None:
            obj.select_set(False, view_layer=view_layer)
    for obj in objects:
        if view_layer.objects.get(obj.name) is not None:
            obj.select_set(True, view_layer=view_layer)
    view_layer.objects.active = _main_mesh(objects)


def undo_push() -> None:
    """One undo step. bpy.ops called from Python push none themselves, so this is the only one.

    In background mode (the bpy module) Blender has no undo stack unless a script made one with
    an explicit push; pushing would create one and copy the whole file, so only push if it exists.
    """
    if bpy.app.background and not bpy.ops.ed.undo_history.poll():  # type: ignore[call-arg]  # the context is optional
        return
    try:
        if bpy.ops.ed.undo_push.poll():  # type: ignore[call-arg]  # the context is optional
            bpy.ops.ed.undo_push(message=UNDO_MESSAGE)
    except RuntimeError:
        pass  # no window in this context: the import stands, just without its own undo step
