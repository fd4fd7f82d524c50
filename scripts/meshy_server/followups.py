"""Remesh, Retexture, Rigging and Animation: their create requests (validated as Meshy's docs say),
their sources, prices and task objects. Their files are built in followup_outputs.py.

Written from Meshy's documentation (see ../shared/meshy-followups.md in the project), not from the
add-on. Where the docs are silent the server decides, and `--help` says how.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote, urlsplit

from . import anim, followup_outputs
from .errors import ApiError
from .modelio import MODEL_EXTENSIONS, ModelError, glb_summary, read_model, sniff_model
from .rig import NotHumanoid, check_humanoid
from .rules import _bool, _check_type, _choice, optional_str
from .tasks import FAIL_RE, Task

REMESH, RETEXTURE, RIGGING, ANIMATIONS = "remesh", "retexture", "rigging", "animations"
KINDS = (REMESH, RETEXTURE, RIGGING, ANIMATIONS)
TYPE_NAMES = {REMESH: "remesh", RETEXTURE: "retexture", RIGGING: "rig", ANIMATIONS: "animate"}
CREDITS = {REMESH: 5, RETEXTURE: 10, RIGGING: 5, ANIMATIONS: 3}
# Which finished tasks each operation starts from (Multi-Image to 3D, not named by the docs, is taken).
SOURCES = {
    REMESH: ("image-to-3d", "multi-image-to-3d", RETEXTURE),
    RETEXTURE: ("image-to-3d", "multi-image-to-3d", REMESH),
    RIGGING: ("image-to-3d", "multi-image-to-3d", REMESH, RETEXTURE),
}
REMESH_FORMATS = ("glb", "fbx", "obj", "usdz", "blend", "stl", "3mf")
RETEXTURE_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
MAX_RIG_FACES = 300_000
MAX_MODEL_BYTES = 100 * 1024 * 1024
FPS_CHOICES = (24, 25, 30, 60)
OPERATIONS = ("change_fps", "fbx2usdz", "extract_armature")
ERRORS = {  # task_error code -> (type, message)
    "format_conversion_failed": ("invalid_input", "The model could not be converted: its format could not be read."),
    "model_missing_uv": ("invalid_input", "enable_original_uv is on but the model has no UV coordinates."),
    "invalid_input": ("invalid_input", "The input could not be processed."),
    "moderation_blocked": ("invalid_input", "The style prompt or image was flagged by content moderation."),
    "timeout": ("timeout", "The task timed out."),
}
DOC_URL = "https://docs.meshy.ai/api/errors"
BAD_SOURCE = "Invalid input_task_id: must refer to a successful task from a supported model"


HELP = """
Follow-ups (Remesh, Retexture, Rigging, Animation; /openapi/v1/remesh|retexture|rigging|animations):
  create, retrieve, list, delete and stream like the generation tasks; credits 5 / 10 / 5 / 3,
  FAILED ones refunded. Sources: input_task_id (a SUCCEEDED task of this account: Remesh takes Image to 3D,
  Multi-Image to 3D and Retexture tasks; Retexture: those and Remesh, not Retexture; Rigging: all four) or
  model_url (data:application/octet-stream;base64,... or a URL to this server; .glb .gltf .obj .stl are
  read; an .fbx is accepted and FAILS with format_conversion_failed, as the server cannot read FBX).
  Remesh: the model resampled to target_polycount triangles (decimation_mode: 1/2, 1/4, 1/8, 1/16 of the
  source's), quad topology = that many faces, mostly quads in the OBJ; textures kept; resize_* /
  auto_size (1.7 m when taller than wide, else 0.5 m) / origin_at applied. Retexture: a new base colour
  (2048 px, 4096 with hd_texture) in the colour of the style image (PNG: its mean; JPEG: derived from its
  bytes) or of the prompt's first colour word; PBR maps with enable_pbr; enable_original_uv keeps UVs (a
  model without UVs FAILS model_missing_uv), else a front projection. "[fail:<type>]" in the prompt fails it.
  Rigging: 23 joints fitted to the model scaled to height_meters; skin weights from bone distances; the
  rigged GLB holds Walking and Running clips; separate with-skin and armature-only GLBs per clip.
  More than 300,000 faces -> 400; wider than tall -> 422 (not a humanoid). Animation: actions of
  /web/public/animations/resources (ids 0-18 and 92); change_fps samples the GLB's clip at that rate.
  Every FBX, USDZ and .blend output is a PLACEHOLDER text file.
"""


def _number(body: dict, name: str, default: float | None) -> float | None:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(400, f"Invalid {name}: must be a number")
    return float(v)


def _formats(body: dict, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    v = body.get("target_formats")
    if v is None:
        return list(default)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise ApiError(400, "Invalid target_formats: must be a non-empty array of strings")
    bad = [x for x in v if x not in allowed]
    if bad:
        raise ApiError(400, f"Invalid target_formats: unsupported format {bad[0]!r}")
    return [f for f in allowed if f in v]


# --------------------------------------------------------------------------- the requests


def parse_remesh(body: dict) -> dict:
    o = {"target_formats": _formats(body, REMESH_FORMATS, ["glb"])}
    o["topology"] = _choice(body, "topology", ("quad", "triangle"), "triangle")
    poly = _check_type(body, "target_polycount", int, "integer")
    if poly is not None and not 100 <= poly <= 300_000:
        raise ApiError(400, "Invalid target_polycount: must be between 100 and 300,000")
    o["target_polycount"] = 30_000 if poly is None else poly
    mode = _check_type(body, "decimation_mode", int, "integer")
    if mode is not None and mode not in (1, 2, 3, 4):
        raise ApiError(400, "Invalid decimation_mode: must be 1 (ultra), 2 (high), 3 (medium) or 4 (low)")
    o["decimation_mode"] = mode
    o["resize_height"] = _number(body, "resize_height", 0.0)
    if o["resize_height"] < 0:
        raise ApiError(400, "Invalid resize_height: must be 0 (no resize) or a positive number of metres")
    o["resize_longest_side"] = _number(body, "resize_longest_side", None)
    if o["resize_longest_side"] is not None and o["resize_longest_side"] <= 0:
        raise ApiError(400, "Invalid resize_longest_side: must be a positive number of metres")
    o["auto_size"] = _bool(body, "auto_size", False)
    used = [n for n, on in (("resize_height", o["resize_height"] > 0),
                            ("resize_longest_side", o["resize_longest_side"] is not None),
                            ("auto_size", o["auto_size"])) if on]
    if len(used) > 1:
        raise ApiError(400, f"{' and '.join(used)} are mutually exclusive: use only one")
    o["origin_at"] = _choice(body, "origin_at", ("", "bottom", "center"), "")
    o["convert_format_only"] = _bool(body, "convert_format_only", False)
    o["alpha_thumbnail"] = _bool(body, "alpha_thumbnail", False)
    return o


def parse_retexture(srv, body: dict) -> dict:
    prompt = optional_str(body, "text_style_prompt")
    if prompt is not None and len(prompt) > 600:
        raise ApiError(400, "Invalid text_style_prompt: maximum 600 characters")
    image = optional_str(body, "image_style_url")
    if not prompt and not image:
        raise ApiError(400, "text_style_prompt or image_style_url is required")
    o: dict = {"text_style_prompt": prompt or "", "image_style_url": image, "style_image": None}
    if image:
        _check_extension(image, "image_style_url", ("jpg", "jpeg", "png"))
        o["style_image"] = srv.resolve_image(image, "image_style_url")
    model = optional_str(body, "ai_model", "latest")
    if model not in ("meshy-5", "meshy-6", "latest"):
        raise ApiError(400, "Invalid ai_model: must be one of 'meshy-5', 'meshy-6', 'latest'")
    o["ai_model"] = model
    o["enable_original_uv"] = _bool(body, "enable_original_uv", False)
    o["enable_pbr"] = _bool(body, "enable_pbr", False)
    o["hd_texture"] = _bool(body, "hd_texture", False)
    o["remove_lighting"] = _bool(body, "remove_lighting", True)
    if model == "meshy-5" and o["hd_texture"]:
        raise ApiError(400, "Invalid hd_texture: only supported on meshy-6/latest")
    if model == "meshy-5" and not o["remove_lighting"]:
        raise ApiError(400, "Invalid remove_lighting: only supported on meshy-6/latest")
    o["target_formats"] = _formats(body, RETEXTURE_FORMATS, list(RETEXTURE_FORMATS[:-1]))
    o["alpha_thumbnail"] = _bool(body, "alpha_thumbnail", False)
    return o


def parse_rigging(srv, body: dict) -> dict:
    height = _number(body, "height_meters", 1.7)
    if height <= 0:
        raise ApiError(400, "Invalid height_meters: must be a positive number")
    o: dict = {"height_meters": height, "texture": None}
    url = optional_str(body, "texture_image_url")
    if url:
        _check_extension(url, "texture_image_url", ("png",))
        data, mime = srv.resolve_image(url, "texture_image_url")
        if mime != "image/png":
            raise ApiError(400, "Invalid texture_image_url: must be a .png image")
        o["texture"] = (data, mime)
    return o


def parse_animation(body: dict) -> dict:
    if optional_str(body, "rig_task_id") is None:
        raise ApiError(400, "rig_task_id is required")
    action = body.get("action_id")
    if action is None:
        raise ApiError(400, "action_id is required")
    if isinstance(action, bool) or not isinstance(action, int):
        raise ApiError(400, "Invalid action_id: must be an integer from the animation library")
    if action not in anim.LIBRARY:
        raise ApiError(400, f"Invalid action_id: {action} is not in the animation library")
    o: dict = {"action_id": action, "operation_type": None, "fps": anim.DEFAULT_FPS}
    post = body.get("post_process")
    if post is not None:
        if not isinstance(post, dict):
            raise ApiError(400, "Invalid post_process: must be an object")
        op = post.get("operation_type")
        if op is None:
            raise ApiError(400, "post_process.operation_type is required")
        if op not in OPERATIONS:
            raise ApiError(400, f"Invalid post_process.operation_type: must be one of {', '.join(OPERATIONS)}")
        fps = post.get("fps")
        if fps is not None and op != "change_fps":
            raise ApiError(400, "Invalid post_process.fps: only used with operation_type change_fps")
        if fps is not None and (isinstance(fps, bool) or fps not in FPS_CHOICES):
            raise ApiError(400, "Invalid post_process.fps: must be 24, 25, 30 or 60")
        o.update(operation_type=op, fps=fps or anim.DEFAULT_FPS)
    return o


# --------------------------------------------------------------------------- sources


def _check_extension(url: str, name: str, allowed: tuple[str, ...]) -> None:
    """URLs (not data URIs) whose path has an extension must have one of allowed."""
    if url.startswith("data:"):
        return
    m = re.search(r"\.([A-Za-z0-9]+)$", unquote(urlsplit(url).path))
    if m and m.group(1).lower() not in allowed:
        use = ", ".join("." + a for a in allowed)
        raise ApiError(400, f"Invalid file extension in {name}: .{m.group(1)} (use {use})")


def resolve_model(srv, url: str) -> tuple[bytes, str]:
    """(bytes, format) of a model_url: a data:application/octet-stream;base64 URI or a URL to this server."""
    if url.startswith("data:"):
        head, sep, payload = url.partition(",")
        if not sep or head.strip().lower() != "data:application/octet-stream;base64":
            raise ApiError(400, "Invalid model_url: use a public URL or a data:application/octet-stream;base64, URI")
        if len(payload) > MAX_MODEL_BYTES * 4 // 3 + 8:
            raise ApiError(400, "Model too large in model_url: maximum 100 MB as a data URI")
        try:
            data = base64.b64decode(payload.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "Invalid model_url: bad base64 data") from None
        fmt = sniff_model(data)
        if fmt is None:
            raise ApiError(400, "Invalid model file: model_url is not a .glb, .gltf, .obj, .fbx or .stl model")
        return data, fmt
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ApiError(400, "Invalid model_url: must be an http(s) URL or a data URI")
    m = re.search(r"\.([A-Za-z0-9]+)$", unquote(parts.path))
    ext = m.group(1).lower() if m else ""
    if ext not in MODEL_EXTENSIONS:
        raise ApiError(400, f"Invalid model file extension: .{ext}" if ext else "Invalid model file extension")
    data = srv._local_fetch(parts)
    if data is None:
        raise ApiError(400, "Unreachable URL in model_url: the model could not be downloaded")
    return data, sniff_model(data) or ext


def _source(srv, kind: str, key: str, body: dict) -> tuple[Task | None, tuple[bytes, str] | None]:
    task_id = optional_str(body, "input_task_id")
    url = optional_str(body, "model_url")
    if task_id is None and url is None:
        raise ApiError(400, "input_task_id or model_url is required")
    if task_id is not None:  # with both, input_task_id wins
        src = srv.state.succeeded_task_of(key, task_id)
        if src is None or src.kind not in SOURCES[kind]:
            raise ApiError(400, BAD_SOURCE)
        return src, None
    data, fmt = resolve_model(srv, url)
    if kind == RIGGING and fmt != "glb":
        raise ApiError(400, f"Invalid model file extension: .{fmt} (rigging takes .glb models only)")
    return None, (data, fmt)


def _rig_checks(src: Task | None, model: tuple[bytes, str] | None) -> None:
    """Face count, then the humanoid check, from the GLB's JSON chunk (no decoding)."""
    data = followup_outputs.glb_of(src) if src is not None else model[0]
    try:
        faces, (lo, hi) = glb_summary(data)
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApiError(400, "Invalid model file: model_url is not a readable .glb model") from None
    if faces > MAX_RIG_FACES:
        raise ApiError(400, f"Face count exceeded: the model has {faces:,} faces; rigging takes at most "
                       f"{MAX_RIG_FACES:,}. Remesh it first")
    try:
        check_humanoid(lo, hi)
    except NotHumanoid as exc:
        raise ApiError(422, str(exc)) from None


def create(srv, kind: str, key: str, body: dict) -> Task:
    """Validate a follow-up create like Meshy, then add the (charged) task."""
    fail = None
    images: list = []
    if kind == ANIMATIONS:
        opts = parse_animation(body)
        rig = srv.state.tasks.get(body["rig_task_id"])
        if rig is None or rig.deleted or rig.key != key:
            raise ApiError(404, "Rig task not found")
        if rig.kind != RIGGING or srv.state.succeeded_task_of(key, rig.id) is None:
            raise ApiError(400, "Invalid rig_task_id: must refer to a successful rigging task")
        opts.update(rig_task_id=rig.id, _rig_task=rig)
        images = rig.images
    else:
        opts = {REMESH: parse_remesh, RETEXTURE: lambda b: parse_retexture(srv, b),
                RIGGING: lambda b: parse_rigging(srv, b)}[kind](body)
        src, model = _source(srv, kind, key, body)
        if kind == RIGGING:
            _rig_checks(src, model)
        if model is not None and model[1] != "fbx":
            try:
                parsed = read_model(*model)
                if kind == RETEXTURE and opts["enable_original_uv"] and not parsed.has_uvs:
                    fail = "model_missing_uv"
            except ModelError:
                fail = "format_conversion_failed"
        elif model is not None:
            fail = "format_conversion_failed"  # the server cannot read FBX
        opts.update(input_task_id=src.id if src else None, _source_task=src, _source_model=model)
        images = src.images if src is not None else []
    m = FAIL_RE.search(opts.get("text_style_prompt") or "")
    fail = m.group(1) if m else fail
    task = srv.state.add_task(kind, key, opts, images, CREDITS[kind], srv.task_seconds, srv.expires_seconds,
                              fail_type=fail, forced_queue_full=srv.faults.take("queue_full"))
    task.derived["request"] = dict(body)  # the body as it arrived, for tests checking what a client sent
    return task


# --------------------------------------------------------------------------- the task object


def task_error(task: Task, status: str) -> dict:
    if "task_error" in task.overrides:
        return dict(task.overrides["task_error"])
    if status != "FAILED":
        return {"message": ""}
    code = task.fail_type or "server_error"
    err_type, message = ERRORS.get(code, ("server_error", f"Task failed: {code.replace('_', ' ')}."))
    return {"type": err_type, "code": code, "message": message, "doc_url": DOC_URL}


def task_json(srv, task: Task, st: dict) -> dict:
    """The documented object of a follow-up task in state st (server.task_json computed it)."""
    status = st["status"]
    ok = status == "SUCCEEDED"
    o = task.opts
    out: dict = {"id": task.id, "type": TYPE_NAMES[task.kind]}
    if task.kind in (REMESH, RETEXTURE):
        files = followup_outputs.model_files(task) if ok else {}
        out["model_urls"] = {k: srv.asset_url(task, f) for k, f in files.items()}
        if task.kind == RETEXTURE:
            url = o["image_style_url"] or ""
            out.update(text_style_prompt=o["text_style_prompt"], image_style_url=url if len(url) < 2048 else "")
        out["thumbnail_url"] = srv.asset_url(task, "preview.png") if ok else ""
        if ok and o["alpha_thumbnail"]:
            out["alpha_thumbnail_url"] = srv.asset_url(task, "alpha_thumbnail.png")
        if task.kind == RETEXTURE:
            tex = followup_outputs.texture_files(task)
            out["texture_urls"] = [{k: srv.asset_url(task, f) for k, f in tex.items()}] if ok else []
    else:
        out["result"] = _result(srv, task) if ok else None
    out["progress"] = st["progress"]
    out["status"] = status
    out["created_at"] = int(task.created * 1000)
    out["started_at"] = int(st["started"] * 1000) if st["started"] is not None else 0
    out["finished_at"] = int(st["finished"] * 1000) if st["finished"] is not None else 0
    out["expires_at"] = task.expires_ms
    out["preceding_tasks"] = st["preceding"]
    out["task_error"] = task_error(task, status)
    out["consumed_credits"] = 0 if status in ("FAILED", "CANCELED") else task.cost
    return out


def _result(srv, task: Task) -> dict:
    files = followup_outputs.result_files(task)
    url = {k: srv.asset_url(task, f) for k, f in files.items()}
    if task.kind == RIGGING:
        basic = {k: v for k, v in url.items() if k.startswith(("walking", "running"))}
        return {"rigged_character_glb_url": url["rigged_character_glb_url"],
                "rigged_character_fbx_url": url["rigged_character_fbx_url"], "basic_animations": basic}
    return url
