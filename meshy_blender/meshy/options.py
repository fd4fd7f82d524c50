"""Request options for Image to 3D and Multi-Image to 3D, checked before any network call.

Every field defaults to ``None`` = "not set": ``to_payload()`` sends only what the caller set,
so the server's defaults stay the server's (they differ per model and change over time).
``OPTION_FIELDS`` describes each option (type, allowed values, server default, tooltip) for UIs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from . import IMAGE_TO_3D, MULTI_IMAGE_TO_3D
from .errors import ValidationError

__all__ = [
    "MAX_IMAGE_BYTES",
    "OPTION_FIELDS",
    "TARGET_FORMATS",
    "ImageTo3DOptions",
    "MultiImageTo3DOptions",
    "OptionField",
    "TaskOptions",
    "options_from_dict",
]

MAX_IMAGE_BYTES = 100 * 1024 * 1024
MAX_IMAGES = 4
MAX_TEXTURE_PROMPT = 600
POLYCOUNT_RANGE = (100, 300_000)
TARGET_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
KNOWN_MODELS = ("meshy-5", "meshy-6", "latest")
RETIRED_MODELS = frozenset({"meshy-1", "meshy-2", "meshy-3", "meshy-3-turbo", "meshy-4"})
# Models known to lack the meshy-6 only features (hd_texture, image_enhancement, remove_lighting).
PRE_MESHY6_MODELS = frozenset({"meshy-5"})

_BOTH = (IMAGE_TO_3D, MULTI_IMAGE_TO_3D)
_DATA_URI = re.compile(r"data:image/(png|jpeg);base64,", re.IGNORECASE)


@dataclass(frozen=True)
class OptionField:
    """What a UI needs to know about one option."""

    name: str
    type: type  # bool, int, str or list (of str)
    description: str
    allowed: tuple | None = None  # allowed values (list items for list options); None = free
    server_default: Any = None  # what Meshy uses when the option is not sent (informational)
    kinds: tuple[str, ...] = _BOTH
    needs_texture: bool = False  # only meaningful with should_texture on
    meshy6_only: bool = False  # only supported on meshy-6 / latest


def _f(name, type_, description, allowed=None, default=None, kinds=_BOTH, **flags) -> OptionField:
    return OptionField(name, type_, description, allowed, default, kinds, **flags)


OPTION_FIELDS: dict[str, OptionField] = {
    f.name: f
    for f in (
        _f("image_url", str, "Source image: a public http(s) URL or a data:image/png|jpeg;base64 URI "
           "(JPG or PNG, up to 100 MB).", kinds=(IMAGE_TO_3D,)),
        _f("input_task_id", str, "ID of a SUCCEEDED API Text to Image / Image to Image task with exactly "
           "one image, used instead of image_url.", kinds=(IMAGE_TO_3D,)),
        _f("image_urls", list, "1 to 4 images (URLs or data URIs) of the same object from different "
           "angles.", kinds=(MULTI_IMAGE_TO_3D,)),
        _f("ai_model", str, "Model version: meshy-5, meshy-6 or latest (Meshy 6). Newer names pass "
           "through; meshy-4 is retired.", KNOWN_MODELS, "latest"),
        _f("model_type", str, "standard, or lowpoly for a low-polygon model.", ("standard", "lowpoly"),
           "standard", kinds=(IMAGE_TO_3D,)),
        _f("should_texture", bool, "Generate textures. Off gives an untextured mesh (cheaper).",
           default=True),
        _f("enable_pbr", bool, "Also generate PBR maps (metallic, roughness, normal; emission on "
           "meshy-6).", default=False, needs_texture=True),
        _f("hd_texture", bool, "Base color texture at 4K (4096x4096); PBR maps stay 2K. meshy-6/latest "
           "only.", default=False, needs_texture=True, meshy6_only=True),
        _f("texture_prompt", str, "Text prompt to guide texturing (max 600 characters).",
           needs_texture=True),
        _f("texture_image_url", str, "Reference image (URL or data URI) to guide texturing. Use either "
           "this or texture_prompt.", needs_texture=True),
        _f("image_enhancement", bool, "AI-enhance the input image; off keeps the original look. "
           "meshy-6/latest only.", default=True, meshy6_only=True),
        _f("remove_lighting", bool, "Remove baked highlights and shadows from the base color. "
           "meshy-6/latest only.", default=True, needs_texture=True, meshy6_only=True),
        _f("should_remesh", bool, "Run the remesh phase; off returns the highest-precision triangle "
           "mesh.", default=None),
        _f("topology", str, "Remeshed topology: quad-dominant or decimated triangles.",
           ("quad", "triangle"), "triangle"),
        _f("target_polycount", int, "Target polygon count after remeshing (100 to 300,000).",
           POLYCOUNT_RANGE, 30_000),
        _f("save_pre_remeshed_model", bool, "Also keep the GLB from before remeshing.", default=False),
        _f("symmetry_mode", str, "Symmetry during generation: off, auto or on.", ("off", "auto", "on"),
           "auto"),
        _f("pose_mode", str, "Pose for characters: a-pose, t-pose, or empty for none.",
           ("", "a-pose", "t-pose"), ""),
        _f("moderation", bool, "Screen the inputs for harmful content before generating.",
           default=False),
        _f("auto_size", bool, "Estimate the real-world height and scale the model to it.",
           default=False),
        _f("origin_at", str, "Model origin when auto_size is on: bottom or center.",
           ("bottom", "center"), "bottom"),
        _f("multi_view_thumbnails", bool, "Also render front, right, back and left thumbnails "
           "(about 3 s more).", default=False),
        _f("alpha_thumbnail", bool, "Also make a transparent-background thumbnail.", default=False),
        _f("target_formats", list, "Formats to generate: glb, obj, fbx, stl, usdz, 3mf (3mf only when "
           "listed). Fewer formats finish sooner.", TARGET_FORMATS),
        _f("webhook_url", str, "URL Meshy POSTs the finished task to."),
    )
}


# -- checks ---------------------------------------------------------------------------------------


def _check_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(name, "must be an http(s) URL")


def check_image_ref(name: str, value: Any) -> None:
    """An image is an http(s) URL or a PNG/JPEG data URI of at most 100 MB (decoded).

    The size is computed from the base64 length, and only the head is test-decoded, so checking
    a 100 MB image costs no copy of it.
    """
    rule = "must be an http(s) URL or a data:image/png|jpeg;base64, URI"
    if not isinstance(value, str) or not value or value[:1].isspace():
        raise ValidationError(name, rule)
    if value[:5].lower() != "data:":
        _check_http_url(name, value)
        return
    match = _DATA_URI.match(value)
    if not match:
        raise ValidationError(name, "data URIs must start with data:image/png;base64, or "
                              "data:image/jpeg;base64, (JPG or PNG only)")
    start = match.end()
    padding = 2 if value.endswith("==") else 1 if value.endswith("=") else 0
    size = (len(value) - start) * 3 // 4 - padding
    if size <= 0:
        raise ValidationError(name, "the data URI holds no image data")
    if size > MAX_IMAGE_BYTES:
        raise ValidationError(name, f"the image is {size / 2**20:.1f} MB; Meshy accepts at most 100 MB")
    head = value[start : start + 4096]
    if len(value) - start > 4096:
        head = head[: len(head) - len(head) % 4]
    try:
        base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(name, "the data URI is not valid base64") from None


def _check_type(spec: OptionField, value: Any) -> None:
    name = spec.name
    if spec.type is bool:
        if not isinstance(value, bool):
            raise ValidationError(name, "must be true or false")
    elif spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(name, "must be a whole number")
        lo, hi = spec.allowed
        if not lo <= value <= hi:
            raise ValidationError(name, f"must be between {lo:,} and {hi:,}")
    elif spec.type is str:
        if not isinstance(value, str):
            raise ValidationError(name, "must be text")
        if spec.allowed is not None and name != "ai_model" and value not in spec.allowed:
            shown = ", ".join(repr(a) if a == "" else a for a in spec.allowed)
            raise ValidationError(name, f"must be one of {shown}")
    elif spec.type is list and (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)):
        raise ValidationError(name, "must be a list")


# -- the dataclasses ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class TaskOptions:
    """Options shared by both endpoints.  ``None`` = not set (the server decides)."""

    kind: ClassVar[str] = ""

    ai_model: str | None = None
    should_texture: bool | None = None
    enable_pbr: bool | None = None
    hd_texture: bool | None = None
    texture_prompt: str | None = None
    texture_image_url: str | None = None
    image_enhancement: bool | None = None
    remove_lighting: bool | None = None
    should_remesh: bool | None = None
    topology: str | None = None
    target_polycount: int | None = None
    save_pre_remeshed_model: bool | None = None
    symmetry_mode: str | None = None
    pose_mode: str | None = None
    moderation: bool | None = None
    auto_size: bool | None = None
    origin_at: str | None = None
    multi_view_thumbnails: bool | None = None
    alpha_thumbnail: bool | None = None
    target_formats: Sequence[str] | None = None
    webhook_url: str | None = None

    def set_fields(self) -> dict[str, Any]:
        """The options the caller set, by API name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    def validate(self) -> None:
        """Raise ``ValidationError`` naming the first bad field and the rule it breaks."""
        values = self.set_fields()
        for name, value in values.items():
            _check_type(OPTION_FIELDS[name], value)
        self._validate_inputs()
        self._validate_fields(values)

    def _validate_inputs(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _validate_fields(self, values: dict[str, Any]) -> None:
        model = values.get("ai_model")
        if model is not None:
            if not model.strip():
                raise ValidationError("ai_model", "must not be empty")
            if model.lower() in RETIRED_MODELS:
                raise ValidationError("ai_model", f"{model} is retired; use meshy-5, meshy-6 or latest")
        if "texture_prompt" in values and len(values["texture_prompt"]) > MAX_TEXTURE_PROMPT:
            raise ValidationError(
                "texture_prompt",
                f"is {len(values['texture_prompt'])} characters; at most {MAX_TEXTURE_PROMPT} allowed")
        if "texture_image_url" in values:
            check_image_ref("texture_image_url", values["texture_image_url"])
            if values.get("texture_prompt"):
                raise ValidationError("texture_image_url", "use either texture_prompt or "
                                      "texture_image_url, not both")
        for name, value in values.items():
            spec = OPTION_FIELDS[name]
            if spec.needs_texture and values.get("should_texture") is False and _active(value):
                raise ValidationError(name, "needs should_texture (texturing is turned off)")
            if (spec.meshy6_only and model is not None and model.lower() in PRE_MESHY6_MODELS
                    and value != spec.server_default):
                # Sending the default is harmless; asking for the meshy-6 behaviour is not possible.
                raise ValidationError(name, f"is only supported on meshy-6 / latest, not {model}")
        if "origin_at" in values and values.get("auto_size") is not True:
            raise ValidationError("origin_at", "only applies with auto_size turned on")
        if "target_formats" in values:
            formats = values["target_formats"]
            if not formats:
                raise ValidationError("target_formats", "must list at least one format")
            bad = [f for f in formats if f not in TARGET_FORMATS]
            if bad:
                raise ValidationError("target_formats",
                                      f"unknown format(s) {', '.join(map(str, bad))}; "
                                      f"choose from {', '.join(TARGET_FORMATS)}")
        if "webhook_url" in values:
            _check_http_url("webhook_url", values["webhook_url"])

    def to_payload(self) -> dict[str, Any]:
        """Validate, then return the JSON body: only the fields that were set."""
        self.validate()
        payload = self.set_fields()
        if "target_formats" in payload:
            payload["target_formats"] = list(dict.fromkeys(payload["target_formats"]))
        if "image_urls" in payload:
            payload["image_urls"] = list(payload["image_urls"])
        return payload


def _active(value: Any) -> bool:
    """True for values that ask for something (True, non-empty text)."""
    return value is True or (isinstance(value, str) and value != "")


@dataclass
class ImageTo3DOptions(TaskOptions):
    """POST /openapi/v1/image-to-3d: one image (or a prior image task) to a 3D model."""

    kind: ClassVar[str] = IMAGE_TO_3D

    image_url: str | None = None
    input_task_id: str | None = field(default=None, kw_only=True)
    model_type: str | None = field(default=None, kw_only=True)

    def _validate_inputs(self) -> None:
        if (self.image_url is None) == (self.input_task_id is None):
            raise ValidationError("image_url", "set exactly one of image_url or input_task_id")
        if self.image_url is not None:
            check_image_ref("image_url", self.image_url)
        elif not self.input_task_id.strip():
            raise ValidationError("input_task_id", "must not be empty")


@dataclass
class MultiImageTo3DOptions(TaskOptions):
    """POST /openapi/v1/multi-image-to-3d: 1-4 views of the same object to one 3D model."""

    kind: ClassVar[str] = MULTI_IMAGE_TO_3D

    image_urls: Sequence[str] | None = None

    def _validate_inputs(self) -> None:
        urls = self.image_urls
        if urls is None or len(urls) == 0:
            raise ValidationError("image_urls", "give 1 to 4 images")
        if len(urls) > MAX_IMAGES:
            raise ValidationError("image_urls", f"got {len(urls)} images; at most {MAX_IMAGES} allowed")
        for i, url in enumerate(urls):
            check_image_ref(f"image_urls[{i}]", url)


_CLASSES: dict[str, type[TaskOptions]] = {
    IMAGE_TO_3D: ImageTo3DOptions,
    MULTI_IMAGE_TO_3D: MultiImageTo3DOptions,
}


def options_class(kind: str) -> type[TaskOptions]:
    """The options dataclass for an endpoint kind."""
    try:
        return _CLASSES[kind]
    except KeyError:
        raise ValidationError("kind", f"must be {IMAGE_TO_3D!r} or {MULTI_IMAGE_TO_3D!r}") from None


def options_from_dict(kind: str, mapping: Mapping[str, Any]) -> TaskOptions:
    """Build options from API field names (``**options`` in scripts); unknown names are rejected.

    The result is not validated yet: ``validate()`` / ``to_payload()`` do that.
    """
    cls = options_class(kind)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in mapping if k not in names)
    if unknown:
        hint = " (use pose_mode)" if "is_a_t_pose" in unknown else ""
        raise ValidationError(", ".join(unknown), f"unknown option(s) for {kind}{hint}")
    return cls(**dict(mapping))
