"""Follow-up jobs (Remesh, Retexture, Rigging, Animation): what differs from a generation job.

A follow-up job runs through the same engine, worker and converter as Image to 3D: journalled
before its create, reconciled through its kind's list endpoint, watched over SSE, downloaded,
converted, appended. Only four things are its own, and they live here: what submit() accepts
(a source task id, Meshy's options, a style image as an attachment; the source checked before
anything is written), the create's payload (the source task id under Meshy's field name), the
files to download (rigging: the character and its walking / running clips; animation: the
animated character) and the record's lineage (source job, source task, operation, options).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ..meshy import ANIMATION, FOLLOWUP_KINDS, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, REMESH, RETEXTURE, RIGGING
from ..meshy.errors import ValidationError
from ..meshy.model_refs import MAX_GLB_JSON, gltf_triangles
from . import files as F
from .model import JobSpec

# The task object's "type" of each kind (reconcile matches on it; check_source takes it).
TASK_TYPES: dict[str, tuple[str, ...]] = {
    IMAGE_TO_3D: (IMAGE_TO_3D,), MULTI_IMAGE_TO_3D: (MULTI_IMAGE_TO_3D,), REMESH: (REMESH,),
    RETEXTURE: (RETEXTURE,), RIGGING: ("rig", RIGGING), ANIMATION: ("animate", "animation", ANIMATION),
}
SOURCE_FIELDS = ("input_task_id", "rig_task_id", "model_url")
OPERATIONS = {REMESH: "remesh", RETEXTURE: "retexture", RIGGING: "rig", ANIMATION: "animate"}
CLIP_FILES = {"Walking": "clip_walking.glb", "Running": "clip_running.glb"}
# An animation's post-processed files (paid for, made for game engines): kept in its library folder.
PROCESSED_FILES = {"processed_animation_fps_fbx": "animation_fps.fbx", "processed_usdz": "animation.usdz",
                   "processed_armature_fbx": "armature.fbx"}
# The one image option a follow-up may take as a JobSpec image (encoded and saved like an input photo).
IMAGE_OPTIONS = {RETEXTURE: "image_style_url", RIGGING: "texture_image_url"}
_ATTACHMENT_MIMES = ("image/png", "image/jpeg")
_PLACEHOLDER = "data:image/png;base64,iVBORw0KGgo="  # stands in for a style image while validating


def is_followup(kind: str) -> bool:
    return kind in FOLLOWUP_KINDS


def task_types(kind: str) -> tuple[str, ...]:
    return TASK_TYPES.get(kind, (kind,))


def source_field(kind: str) -> str:
    """Meshy's name for the source task in this kind's create."""
    return "rig_task_id" if kind == ANIMATION else "input_task_id"


def credits(kind: str) -> int | None:
    from ..meshy.pricing import followup_credits

    try:
        return followup_credits(kind)
    except ValueError:
        return None


def cost_line(kind: str, count: int = 1) -> str:
    """What the operator and the panel show before pressing: "Rigging: 5 credits"."""
    from ..meshy.followups import LABELS

    each = credits(kind)
    if each is None:
        return ""
    total = each * count
    per = f" ({count} x {each})" if count > 1 else ""
    return f"{LABELS.get(kind, kind)}: {total} credit{'s' if total != 1 else ''}{per}"


def check_source_job(kind: str, source_kind: str, state: str, task_id: str | None,
                     face_count: int | None = None) -> None:
    """A job of ours as the source: it must have a finished task of a kind this operation takes."""
    from ..meshy.followups import check_source

    field = source_field(kind)
    if not task_id or state not in ("ready", "importing", "imported", "converting"):
        raise ValidationError(field, f"the source job is {state}, not finished: a follow-up starts from a job "
                              "whose model was made (wait for it, or press Retry on it)")
    check_source(kind, task_types(source_kind)[0], face_count=face_count)


def check_bare_source(client: Any, rec: Any, cancel: Any = None) -> None:
    """A follow-up from a bare Meshy task id (not a job of ours, checked when submitted): the task's kind
    and status are checked before paying; ValidationError when the operation cannot start from it.
    A task found under none of our kinds (Text to 3D, say) is left for Meshy to judge."""
    from ..meshy import ALL_KINDS
    from ..meshy.followups import SOURCE_TYPES, check_source

    if (rec.lineage or {}).get("source_kind") or not rec.input_task_id:
        return
    takes = SOURCE_TYPES[rec.kind]
    kinds = sorted(ALL_KINDS, key=lambda k: not set(task_types(k)) & set(takes))  # the likely kinds first
    task = client.find_task(rec.input_task_id, kinds, cancel=cancel)
    if task is not None:
        check_source(rec.kind, task.type or None, task.status)


def validate(spec: JobSpec) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The options to journal and the style images to save (data URIs taken out); raises ValidationError.

    The source is ``spec.input_task_id`` (a finished task; for Animation the rig task): Meshy's source
    fields are not options here. ``spec.lineage`` may carry what is known of the source job
    (``source_kind``, ``source_state``, ``face_count``), checked before anything is written.
    """
    from ..meshy.followup_options import followup_options_from_dict
    from .validation import checked_task_id

    kind = spec.kind
    if not is_followup(kind):
        raise ValidationError("kind", f"must be one of {', '.join(FOLLOWUP_KINDS)}, not {kind!r}")
    options = dict(spec.options or {})
    image_field = _check_images(kind, spec, options)
    given = sorted(k for k in SOURCE_FIELDS if k in options)
    if given:
        raise ValidationError(given[0], "is set from the source (a job, a job id or a Meshy task id): "
                              "pass the source instead of this option")
    if not spec.input_task_id:
        raise ValidationError(source_field(kind), "a follow-up needs a source: a finished job or a Meshy task id")
    task_id = checked_task_id(spec.input_task_id)
    lineage = spec.lineage or {}
    if lineage.get("source_kind"):
        check_source_job(kind, lineage["source_kind"], lineage.get("source_state", "imported"), task_id,
                         lineage.get("face_count"))
    attachments: dict[str, tuple[str, bytes]] = {}
    for key, value in list(options.items()):
        if isinstance(value, str) and value[:5].lower() == "data:":
            parsed = F.parse_data_uri(value)
            if parsed is None or parsed[0] not in _ATTACHMENT_MIMES:
                raise ValidationError(key, "must be a data:image/png|jpeg;base64, URI or an http(s) URL")
            attachments[key] = parsed
            del options[key]
    from ..meshy.upload import check_image_size

    for key, (mime, data) in attachments.items():
        check_image_size(key, mime, len(data))
    mapping = {**options, **{k: _PLACEHOLDER for k in attachments}, source_field(kind): task_id}
    if image_field:
        mapping[image_field] = _PLACEHOLDER
    followup_options_from_dict(kind, mapping).validate()
    return options, attachments


def _check_images(kind: str, spec: JobSpec, options: dict[str, Any]) -> str:
    """A style image (Retexture) or texture (Rigging) given as an UploadImage: which option it is."""
    from ..meshy.followups import LABELS
    from ..meshy.upload import check_image_size

    images = list(spec.images or [])
    if not images:
        return ""
    field = IMAGE_OPTIONS.get(kind)
    if field is None:
        raise ValidationError("images", f"{LABELS[kind]} takes no image: give only its source")
    if len(images) > 1:
        raise ValidationError(field, f"{LABELS[kind]} takes one image; {len(images)} given")
    if field in options:
        raise ValidationError(field, "is given twice (as an image and as an option): give it once")
    img = images[0]
    mime = (img.mime or "").lower()
    allowed = ("image/png",) if kind == RIGGING else ("image/png", "image/jpeg", "image/jpg")
    if mime not in allowed:
        raise ValidationError(field, f"'{img.name}' is {mime or 'of unknown type'}; Meshy takes "
                              f"{' or '.join(a.split('/')[1].upper() for a in allowed[:2])} here")
    if not img.deferred:
        if not img.data:
            raise ValidationError(field, f"'{img.name}' is empty (0 bytes)")
        check_image_size(field, mime, len(img.data))
    return field


def lineage_of(spec: JobSpec, options: dict[str, Any]) -> dict[str, Any]:
    """What the record keeps of where the job came from (shown by the job list and the asset metadata)."""
    lineage = dict(spec.lineage or {})
    lineage.pop("face_count", None)
    lineage.pop("source_state", None)
    lineage.update(operation=OPERATIONS[spec.kind], source_task_id=spec.input_task_id, options=dict(options))
    return lineage


def payload(rec: Any) -> Any:
    """The create's options: the journalled ones, the saved style images as data URIs, the source."""
    from ..meshy.followup_options import followup_options_from_dict

    folder = Path(rec.folder)
    mapping = dict(rec.options)
    for key, name in rec.option_files.items():
        mapping[key] = F.data_uri(F.MIME_OF_EXT[name.rsplit(".", 1)[-1]], F.inside(folder, name).read_bytes())
    for name, mime in zip(rec.input_files, rec.input_mimes):  # at most one: the style image / texture
        mapping[IMAGE_OPTIONS[rec.kind]] = F.data_uri(mime, F.inside(folder, name).read_bytes())
    mapping[source_field(rec.kind)] = rec.input_task_id
    opts = followup_options_from_dict(rec.kind, mapping)
    opts.validate()
    return opts


def needs_result(kind: str, task: Any) -> bool:
    """Rigging / Animation files are in the task's ``result``, which a stream's snapshot may lack."""
    return kind in (RIGGING, ANIMATION) and not isinstance((task.raw or {}).get("result"), dict)


def model_url(kind: str, task: Any) -> str:
    """The GLB that lands (the character for rigging and animation); '' when the task has none."""
    from ..meshy.followups import AnimationResult, RigResult

    if kind == RIGGING:
        rig = RigResult.from_task(task)
        return rig.rigged_character_glb_url if rig else ""
    if kind == ANIMATION:
        anim = AnimationResult.from_task(task)
        return anim.animation_glb_url if anim else ""
    return task.model_urls.get("glb", "")


def plan(kind: str, task: Any, textures: bool) -> list[tuple[str, str, str]]:
    """(what, url, our file name) to fetch: the model, its thumbnail and maps, a rig's clips, an
    animation's post-processed files (files[what] names them in the job)."""
    from ..meshy.followups import AnimationResult, RigResult

    out = [("model", model_url(kind, task), F.MODEL)]
    if task.thumbnail_url:
        out.append(("thumbnail", task.thumbnail_url, F.THUMBNAIL))
    if textures and task.texture_urls:
        maps = task.texture_urls[0]
        out += [(f"texture:{m}", maps[m], F.texture_file_name(m)) for m in F.TEXTURE_MAPS if maps.get(m)]
    if kind == RIGGING:
        rig = RigResult.from_task(task)
        clips = rig.clips if rig else {}
        out += [(f"clip:{name}", url, CLIP_FILES[name]) for name, url in clips.items() if name in CLIP_FILES]
    if kind == ANIMATION:
        anim = AnimationResult.from_task(task)
        out += [(key, getattr(anim, key + "_url"), name) for key, name in PROCESSED_FILES.items()
                if anim and getattr(anim, key + "_url")]
    return out


def no_model_message(kind: str) -> str:
    if kind in (RIGGING, ANIMATION):
        return "Meshy's result for this task has no GLB character; press Retry, or run the follow-up again."
    return "Meshy returned no GLB model for this task (was target_formats set without glb?)."


def glb_file_faces(path: str | Path) -> int | None:
    """Triangles of a GLB file, from its JSON chunk alone (None when that cannot be read)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
            if len(header) < 20 or header[:4] != b"glTF":
                return None
            json_len = struct.unpack_from("<I", header, 12)[0]
            if json_len > MAX_GLB_JSON:
                return None
            gltf = json.loads(f.read(json_len))
        return gltf_triangles(gltf)
    except (OSError, ValueError, struct.error, KeyError, IndexError, TypeError):
        return None


def face_count(folder: str, files: dict[str, Any]) -> int | None:
    """A finished job's triangles: the converter's count (model.blend.json), else the GLB's own."""
    try:
        info = json.loads((Path(folder) / F.BLEND_RESULT).read_text(encoding="utf-8"))
        if isinstance(info.get("triangles"), int):
            return int(info["triangles"])
    except (OSError, ValueError, AttributeError):
        pass
    model = files.get("model")
    if not model:
        return None
    return glb_file_faces(model if Path(model).is_absolute() else F.inside(Path(folder), model))  # a view: absolute


def tags(rec: Any) -> dict[str, str]:
    """The lineage as the model's custom properties (strings: they go on the converter's command line)."""
    lineage = rec.lineage or {}
    if not lineage:
        return {}
    out = {"meshy_operation": str(lineage.get("operation", "")),
           "meshy_source_task_id": str(lineage.get("source_task_id") or "")}
    if lineage.get("source_job_id"):
        out["meshy_source_job_id"] = str(lineage["source_job_id"])
    return out
