"""Validation rules of a create request, written from Meshy's documentation (not from the add-on)."""

from __future__ import annotations

import base64
import binascii
import re

from .errors import ApiError
from .images import sniff_image

MAX_IMAGE_BYTES = 100 * 1024 * 1024
ALL_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
DEFAULT_FORMATS = ("glb", "obj", "fbx", "stl", "usdz")
CREDITS = {("meshy-5", True): 15, ("meshy-5", False): 5, ("meshy-6", True): 30, ("meshy-6", False): 20}


def _check_type(body: dict, name: str, typ, tname: str):
    if name not in body or body[name] is None:
        return None
    v = body[name]
    if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise ApiError(400, f"Invalid {name}: must be an integer")
    if not isinstance(v, typ):
        raise ApiError(400, f"Invalid {name}: must be a {tname}")
    return v


def _bool(body, name, default):
    v = _check_type(body, name, bool, "boolean")
    return default if v is None else v


def optional_str(body, name, default=None):
    v = _check_type(body, name, str, "string")
    return default if v is None else v


def _choice(body, name, choices, default):
    v = optional_str(body, name, default)
    if v not in choices:
        raise ApiError(400, f"Invalid {name}: must be one of {', '.join(repr(c) for c in choices)}")
    return v


def parse_options(kind: str, body: dict) -> dict:
    """Validate a create body like Meshy does; returns normalized options (images not decoded yet)."""
    o: dict = {}
    model = optional_str(body, "ai_model", "latest")
    if model == "meshy-4":
        raise ApiError(400, "Invalid ai_model: meshy-4 has been retired; use meshy-5, meshy-6 or latest")
    if model not in ("meshy-5", "meshy-6", "latest"):
        raise ApiError(400, "Invalid ai_model: must be one of 'meshy-5', 'meshy-6', 'latest'")
    o["ai_model"] = model
    six = model != "meshy-5"
    if kind == "image-to-3d":
        o["model_type"] = _choice(body, "model_type", ("standard", "lowpoly"), "standard")
    else:
        o["model_type"] = "standard"
    o["should_texture"] = _bool(body, "should_texture", True)
    o["enable_pbr"] = _bool(body, "enable_pbr", False)
    if o["enable_pbr"] and not o["should_texture"]:
        raise ApiError(400, "Invalid enable_pbr: requires should_texture to be true")
    o["hd_texture"] = _bool(body, "hd_texture", False)
    if o["hd_texture"] and not six:
        raise ApiError(400, "Invalid hd_texture: only supported on meshy-6/latest")
    for name in ("image_enhancement", "remove_lighting"):
        o[name] = _bool(body, name, True)
        if not o[name] and not six:
            raise ApiError(400, f"Invalid {name}: only supported on meshy-6/latest")
    prompt = optional_str(body, "texture_prompt", "")
    if len(prompt) > 600:
        raise ApiError(400, "Invalid texture_prompt: maximum 600 characters")
    o["texture_prompt"] = prompt
    o["texture_image_url"] = optional_str(body, "texture_image_url")
    o["should_remesh"] = _bool(body, "should_remesh", not six)
    o["topology"] = _choice(body, "topology", ("quad", "triangle"), "triangle")
    poly = _check_type(body, "target_polycount", int, "integer")
    if poly is not None and not 100 <= poly <= 300000:
        raise ApiError(400, "Invalid target_polycount: must be between 100 and 300,000")
    o["target_polycount"] = 30000 if poly is None else poly
    o["save_pre_remeshed_model"] = _bool(body, "save_pre_remeshed_model", False)
    o["symmetry_mode"] = _choice(body, "symmetry_mode", ("off", "auto", "on"), "auto")
    o["pose_mode"] = _choice(body, "pose_mode", ("", "a-pose", "t-pose"), "")
    o["is_a_t_pose"] = _bool(body, "is_a_t_pose", False)
    o["moderation"] = _bool(body, "moderation", False)
    o["auto_size"] = _bool(body, "auto_size", False)
    o["origin_at"] = _choice(body, "origin_at", ("bottom", "center"), "bottom")
    o["multi_view_thumbnails"] = _bool(body, "multi_view_thumbnails", False)
    o["alpha_thumbnail"] = _bool(body, "alpha_thumbnail", False)
    o["target_formats"] = _formats(body)
    o["webhook_url"] = optional_str(body, "webhook_url")
    return o


def _formats(body: dict) -> list[str]:
    v = body.get("target_formats")
    if v is None:
        return list(DEFAULT_FORMATS)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise ApiError(400, "Invalid target_formats: must be a non-empty array of strings")
    bad = [x for x in v if x not in ALL_FORMATS]
    if bad:
        raise ApiError(400, f"Invalid target_formats: unsupported format {bad[0]!r}")
    return [f for f in ALL_FORMATS if f in v]


def price(opts: dict) -> int:
    """Credits of one task: meshy-6/latest 30 textured, 20 untextured; meshy-5 15 / 5."""
    family = "meshy-5" if opts["ai_model"] == "meshy-5" else "meshy-6"
    return CREDITS[(family, opts["should_texture"])]


def decode_data_uri(uri: str, name: str, limit: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """data:image/png|jpeg|jpg;base64,... -> (bytes, real mime); checks magic bytes and size."""
    head, sep, payload = uri.partition(",")
    m = re.fullmatch(r"data:image/(png|jpeg|jpg);base64", head.strip(), re.IGNORECASE)
    if not sep or not m:
        raise ApiError(400, f"Invalid image format in {name}: use a PNG or JPEG data URI")
    if len(payload) > limit * 4 // 3 + 8:
        raise ApiError(400, f"Image too large in {name}: maximum 100 MB")
    try:
        data = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"Invalid image format in {name}: bad base64 data") from None
    return check_image(data, name, limit)


def check_image(data: bytes | None, name: str, limit: int) -> tuple[bytes, str]:
    """(bytes, real mime) of an input image: reachable, within the size limit, really a PNG or JPEG."""
    if data is None:
        raise ApiError(400, f"Unreachable URL in {name}: the image could not be downloaded")
    if len(data) > limit:
        raise ApiError(400, f"Image too large in {name}: maximum 100 MB")
    mime = sniff_image(data)
    if mime is None:
        raise ApiError(400, f"Invalid image format in {name}: the data is not a PNG or JPEG image")
    return data, mime


def image_fields(kind: str, body: dict) -> tuple[list[tuple[str, str]], str | None]:
    """([(field name, url)], input_task_id): which inputs a create names, checked for shape."""
    if kind == "multi-image-to-3d":
        urls = body.get("image_urls")
        if urls is None:
            raise ApiError(400, "image_urls is required")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ApiError(400, "Invalid image_urls: must be an array of strings")
        if not 1 <= len(urls) <= 4:
            raise ApiError(400, "Invalid image count: image_urls must contain between 1 and 4 images")
        return [(f"image_urls[{i}]", u) for i, u in enumerate(urls)], None
    url = optional_str(body, "image_url")
    src = optional_str(body, "input_task_id")
    if (url is None) == (src is None):
        raise ApiError(400, "Exactly one of image_url or input_task_id is required")
    return ([("image_url", url)] if url is not None else []), src


def page_query(query: dict) -> tuple[int, int, bool]:
    """(page_num, page_size, newest_first) of a list request."""
    page_num = _int_param(query, "page_num", 1)
    page_size = _int_param(query, "page_size", 10)
    if page_num < 1:
        raise ApiError(400, "Invalid page_num: must be >= 1")
    if not 1 <= page_size <= 50:
        raise ApiError(400, "Invalid page_size: must be between 1 and 50")
    sort_by = query.get("sort_by", "-created_at").strip()
    if sort_by not in ("created_at", "+created_at", "-created_at"):
        raise ApiError(400, "Invalid sort_by: use +created_at or -created_at")
    return page_num, page_size, sort_by.startswith("-")


def _int_param(query: dict, name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise ApiError(400, f"Invalid {name}: must be an integer") from None
