"""Starting follow-up jobs from Blender: the source resolved, the style image prepared, the job submitted.

Shared by the Python API (api.remesh / retexture / rig / animate / lods) and the operators
(followup_ops.py), so both take the same sources, say the same things and send the same requests.
A source is a job of the list (by id or handle) or a Meshy task id: a job gives its task id, its kind
and state and (rigging) its face count, all checked before anything is written or paid
(jobs/followup.py, meshy/followups.check_source). A style image is any Blender image or file, prepared
like an input photo (blender/images.py) and encoded on a worker when it needs converting.
"""

from __future__ import annotations

import bpy

from ..jobs import followup
from ..meshy import ANIMATION, REMESH, RETEXTURE, RIGGING
from ..meshy.errors import ValidationError
from . import addon, pump, runtime

DEFAULT_LODS = (50_000, 10_000, 2_000)
DEFAULT_HEIGHT = 1.7  # metres: Meshy's default, sent when the caller gives none
NAMES = {REMESH: "remesh", RETEXTURE: "retexture", RIGGING: "rig", ANIMATION: "animation"}


def _job_id_of(source) -> str:
    """A Job, a job id, a Meshy task id, or a model: an object or collection of ours (its tags), an
    Asset Browser asset or a model.blend path of the library (the job that made it)."""
    if isinstance(source, bpy.types.ID) or hasattr(source, "full_library_path") or (
            isinstance(source, str) and source.lower().endswith(".blend")):
        from .rebuild_ops import job_for_asset

        view = job_for_asset(runtime.engine(), source)
        if view is not None:
            return view.id
        task_id = source.get("meshy_task_id") if isinstance(source, bpy.types.ID) else None
        if not task_id:
            raise ValidationError("source", f"{getattr(source, 'name', source)!r} is not a Meshy model of the job "
                                  "list: give its job or its Meshy task id")
        return str(task_id)
    job_id = getattr(source, "id", source)
    if not isinstance(job_id, str) or not job_id.strip():
        raise ValidationError("source", f"{source!r} is not a job, a job id or a Meshy task id")
    return job_id.strip()


def resolve(context, kind: str, source) -> tuple[str, dict, str]:
    """(source task id, lineage, label) of a Job, a job id or a Meshy task id; raises ValidationError."""
    from ..jobs.validation import checked_task_id

    key = _job_id_of(source)
    view = runtime.engine(context).get(key)
    if view is None:
        if hasattr(source, "id"):
            raise ValidationError("source", f"the job {key} is not in the job list any more (removed): give "
                                  "its Meshy task id instead")
        task_id = checked_task_id(key)
        return task_id, {}, f"Task {task_id[:8]}"
    lineage = view.lineage or {}
    if kind == ANIMATION and view.kind == ANIMATION and lineage.get("source_task_id"):  # animate its rig again
        rig = {"source_job_id": lineage.get("source_job_id"), "source_kind": RIGGING, "source_state": "imported",
               "source_label": lineage.get("source_label") or view.label}
        return str(lineage["source_task_id"]), rig, str(lineage.get("source_label") or view.label)
    faces = followup.face_count(view.folder, view.files) if kind == RIGGING and view.files else None
    lineage = {"source_job_id": view.id, "source_kind": view.kind, "source_state": str(view.state),
               "source_label": view.label, "face_count": faces}
    followup.check_source_job(kind, view.kind, str(view.state), view.task_id, faces)
    return str(view.task_id), lineage, view.label


def _style_upload(image, max_size: int):
    from .images import InputError, prepare_file, prepare_image

    try:
        prepared = prepare_image(image, max_size) if isinstance(image, bpy.types.Image) else prepare_file(
            str(image), max_size)
    except InputError as exc:
        raise ValidationError("image_style_url", exc.user_message) from None
    return prepared.upload()


def submit(context, kind: str, source, options: dict, *, label: str = "", suffix: str = "",
           collection: str = "", tag: str = "", catalog: str | list[str] = "") -> str:
    """Check, then submit one follow-up job; returns its id. ``options`` use Meshy's field names;
    ``tag`` and ``catalog`` go into the job's target as submit_image's do (batch.py's follow-ups)."""
    from ..jobs import JobSpec
    from .operators import job_target

    reason = addon.unavailable_reason(context)
    if reason:
        raise RuntimeError(reason)
    options = dict(options)
    task_id, lineage, source_label = resolve(context, kind, source)
    images = []
    field = followup.IMAGE_OPTIONS.get(kind)
    value = options.get(field) if field else None
    if value is not None and not (isinstance(value, str) and value[:5].lower() in ("data:", "http:", "https")):
        p = addon.prefs(context)
        images.append(_style_upload(options.pop(field), p.max_image_size if p else 4096))
    target = job_target(context, **({"tag": tag} if tag else {}), **({"catalog": catalog} if catalog else {}))
    if collection:
        target["collection"] = collection
    spec = JobSpec(kind=kind, images=images, input_task_id=task_id, options=options,
                   label=label or followup_label(kind, source_label, options, suffix), blend_file=bpy.data.filepath,
                   target=target, lineage=lineage)
    job_id = runtime.engine(context).submit(spec)
    pump.ensure_running(context)
    return job_id


def polycount_text(n: int) -> str:
    """50000 -> "50k", 1500 -> "1.5k", 300 -> "300": how artists name a level."""
    if n < 1000:
        return str(n)
    return f"{n / 1000:.1f}".removesuffix(".0") + "k"


def followup_label(kind: str, source_label: str, options: dict, suffix: str = "") -> str:
    """The result's name in the job list, the scene and the Asset Browser: "chair / remesh 5k"."""
    what = suffix or NAMES[kind]
    if kind == REMESH and isinstance(options.get("target_polycount"), int) and not suffix:
        what = f"remesh {polycount_text(options['target_polycount'])}"
    elif kind == RETEXTURE and not suffix:
        prompt = " ".join(str(options.get("text_style_prompt") or "").split())
        what = f"retexture {prompt[:24].rstrip()}" if prompt else "retexture (style image)"
    elif kind == ANIMATION:
        what = f"animate {suffix}" if suffix else "animate"
    return f"{source_label} / {what}"


def level_label(source_label: str, level: int, polycount: int) -> str:
    """One LOD's name: "chair / LOD0 50k" (game engines group LODs by the trailing LODn)."""
    return f"{source_label} / LOD{level} {polycount_text(polycount)}"


def rig_options(options: dict) -> dict:
    return {"height_meters": DEFAULT_HEIGHT, **options}


def animate_options(action_id, options: dict) -> dict:
    from ..meshy.followups import check_action

    check_action(action_id)
    return {**options, "action_id": action_id}


def action_label(action_id: int) -> str:
    from ..meshy.followups import ANIMATION_LIBRARY

    known = {a.action_id: a.name for a in ANIMATION_LIBRARY}
    return known.get(action_id, f"action {action_id}")


def lod_counts(polycounts) -> list[int]:
    counts = list(DEFAULT_LODS if polycounts is None else polycounts)
    if not counts:
        raise ValidationError("polycounts", "give at least one polycount, e.g. (50000, 10000, 2000)")
    for n in counts:
        if isinstance(n, bool) or not isinstance(n, int) or not 100 <= n <= 300_000:
            raise ValidationError("polycounts", f"{n!r} is not a polycount Meshy takes: whole numbers from 100 "
                                  "to 300,000")
    return counts


def lods(context, source, polycounts=None, **options) -> list[str]:
    """One Remesh job per polycount, landing as LOD0..LODn in one new collection; returns their ids."""
    counts = lod_counts(polycounts)
    if "target_polycount" in options or "decimation_mode" in options:
        raise ValidationError("target_polycount", "is set per level by polycounts: leave it out of the options")
    _, _, source_label = resolve(context, REMESH, source)  # checked once before the collection is made
    collection = bpy.data.collections.new(f"{source_label} LODs")
    context.scene.collection.children.link(collection)
    ids = []
    try:
        for i, n in enumerate(counts):
            ids.append(submit(context, REMESH, source, {**options, "target_polycount": n},
                              label=level_label(source_label, i, n), collection=collection.name))
    except Exception:
        if not ids:
            bpy.data.collections.remove(collection)  # nothing submitted: the scene is left as it was
        raise
    return ids


def cost_line(kind: str, count: int = 1) -> str:
    return followup.cost_line(kind, count)
