"""Rigged models: clips as named, playable actions on the armature (converter), and an animation onto its rig.

Two callers. The converter (convert_child.py, a background Blender) calls ``finish`` after importing a
rigging or animation result: actions get their clip's name (Blender 4.2's glTF importer says
"Walking_Armature", 4.5 "Walking"), a rigging job's walking / running clip files replace whatever the
character GLB carried, and every clip becomes a muted NLA track of its own name with the first one the
active action, so Play shows it and the Action editor lists the others. The main thread (pump) calls
``land_on_rig`` for an animation job whose rig is in the scene: only the new action is appended from the
job's model.blend and added to that armature; without the rig, the animated character lands as usual.
"""

from __future__ import annotations

from pathlib import Path

import bpy

ANIMATION_KIND = "animations"  # meshy.ANIMATION (this module is also loaded by the converter, alone)


def clip_name(action, armature) -> str:
    """The glTF clip an action came from: 4.2 names it "<clip>_<object>", 4.5 "<clip>"."""
    name = action.name
    for owner in (armature.name, armature.data.name):
        suffix = "_" + owner
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def actions_of(armature) -> list:
    """The active action, then every NLA strip's, each once."""
    data = armature.animation_data
    if data is None:
        return []
    found = [data.action] if data.action else []
    for track in data.nla_tracks:
        for strip in track.strips:
            if strip.action is not None and strip.action not in found:
                found.append(strip.action)
    return found


def _slot(holder, action) -> None:
    """Blender 4.4+ (slotted actions): an action from another object gets its first slot explicitly."""
    if getattr(holder, "action_slot", False) is None and getattr(action, "slots", None):
        try:
            holder.action_slot = action.slots[0]
        except (AttributeError, RuntimeError, TypeError):
            pass


def play(armature, action) -> None:
    """Make action the armature's active (playing) action."""
    data = armature.animation_data or armature.animation_data_create()
    data.action = action
    _slot(data, action)


def add_clip(armature, action, name: str) -> None:
    """One muted NLA track named after the clip, holding it (kept in the file; the active action plays)."""
    data = armature.animation_data or armature.animation_data_create()
    action.name = name
    track = data.nla_tracks.new()
    track.name = name
    strip = track.strips.new(name, int(action.frame_range[0]), action)
    _slot(strip, action)
    track.mute = True


def set_clips(armature, clips: list[tuple[str, object]]) -> None:
    """The armature's clips are exactly these (name, action), the first one playing."""
    data = armature.animation_data or armature.animation_data_create()
    data.action = None
    for track in list(data.nla_tracks):
        data.nla_tracks.remove(track)
    for name, action in clips:
        add_clip(armature, action, name)
    if clips:
        play(armature, clips[0][1])


def _import_clip(context, path: str):
    """A clip GLB imported into a scratch collection: (its armature's action, the objects to remove)."""
    from .importer import _run_gltf

    scratch = bpy.data.collections.new("Meshy clip")
    context.scene.collection.children.link(scratch)
    objects = _run_gltf(context, context.scene, context.view_layer, scratch, path)
    arms = [o for o in objects if o.type == "ARMATURE"]
    actions = actions_of(arms[0]) if arms else []
    return (actions[0] if actions else None), objects, scratch


def _remove(objects, scratch) -> None:
    data = [o.data for o in objects if o.data is not None]
    for obj in objects:
        bpy.data.objects.remove(obj)
    for block in data:
        if block.users:
            continue
        if isinstance(block, bpy.types.Mesh):
            bpy.data.meshes.remove(block)
        elif isinstance(block, bpy.types.Armature):
            bpy.data.armatures.remove(block)
    bpy.data.collections.remove(scratch)


def finish(context, objects, clips: dict[str, str]) -> None:
    """Converter: name the rig's actions after their clips; a rig's clip files become its actions."""
    arms = [o for o in objects if o.type == "ARMATURE"]
    if not arms:
        return
    arm = arms[0]
    old = actions_of(arm)
    named = [(clip_name(a, arm), a) for a in old]
    if clips:
        named = []
        for action in old:
            action.name = "replaced " + action.name  # frees "Walking" (4.5 names the GLB's own clips so)
        for name, path in clips.items():
            action, scratch_objects, scratch = _import_clip(context, path)
            if action is None:
                _remove(scratch_objects, scratch)
                raise RuntimeError(f"the {name} clip ({Path(path).name}) holds no animation")
            action.use_fake_user = True  # kept while the scratch objects go
            named.append((name, action))
            play(arm, action)  # assigned while its own armature still exists (Blender 4.4+: its slot)
            _remove(scratch_objects, scratch)
    for name, action in named:
        action.name = name + ".tmp"  # free the names first ("Walking" may be taken by another action)
    set_clips(arm, named)
    if clips:
        for action in old:  # what the character GLB itself carried: the clip files replace it
            bpy.data.actions.remove(action)
        for _, action in named:
            action.use_fake_user = False
        bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=False, do_recursive=True)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------ main thread


def rig_in_scene(scene, rig_task_id: str):
    """The armature of a rigging task, landed in this scene (found by its meshy_task_id tag)."""
    if not rig_task_id:
        return None
    for obj in scene.objects:
        if obj.type == "ARMATURE" and obj.get("meshy_task_id") == rig_task_id and obj.library is None:
            return obj
    return None


def land_on_rig(context, view) -> list:
    """An animation job whose rig is in the scene: its action added to that armature and played.

    Returns [armature], or [] when this is not such a job (the caller lands the model as usual).
    """
    from ..jobs import files as F
    from .importer import undo_push

    if view.kind != ANIMATION_KIND:
        return []
    rig = rig_in_scene(context.scene, (view.lineage or {}).get("source_task_id", ""))
    blend = Path(view.folder) / F.BLEND
    if rig is None or not blend.is_file():
        return []
    with bpy.data.libraries.load(str(blend), link=False) as (source, target):  # type: ignore[attr-defined]
        target.actions = list(source.actions)
    actions = [a for a in target.actions if a is not None]
    _remove_new_libraries(blend)
    if not actions:
        return []
    for action in actions:
        action["meshy_job_id"] = view.id
        action["meshy_task_id"] = view.task_id or ""
        add_clip(rig, action, action.name)
    play(rig, actions[0])
    undo_push()
    return [rig]


def _remove_new_libraries(blend: Path) -> None:
    for lib in list(bpy.data.libraries):
        if bpy.path.abspath(lib.filepath) == str(blend):
            bpy.data.libraries.remove(lib)


def armatures_playing(job_id: str) -> list:
    """Armatures holding an action of this job (an animation landed on its rig)."""
    found = []
    for obj in bpy.data.objects:
        if obj.type == "ARMATURE" and any(a.get("meshy_job_id") == job_id for a in actions_of(obj)):
            found.append(obj)
    return found
