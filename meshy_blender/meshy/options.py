"""Request options for Image to 3D and Multi-Image to 3D, each declared once and checked before any network call.

Every option is one field of the dataclasses below, with an ``option(...)`` that says how UIs show it
(label, tooltip, choices, range), Meshy's default and the rules under which it applies. Everything
else is built from that: ``OPTION_FIELDS`` (for the Blender panel and properties, the command-line
flags of demo/batch), the payload and the validation. A new documented option is one new field.

Every field defaults to ``None`` = "not set": ``to_payload()`` sends only what the caller set,
so the server's defaults stay the server's (they differ per model and change over time).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from . import IMAGE_TO_3D, MULTI_IMAGE_TO_3D, upload
from .errors import ValidationError
from .option_spec import (
    AUTO_SIZED,
    GROUPS,
    MESHY6,
    PRE_MESHY6_MODELS,
    REMESHED,
    TEXTURED,
    Choice,
    OptionField,
    option,
)

__all__ = [
    "GROUPS",
    "OPTION_FIELDS",
    "PRE_MESHY6_MODELS",
    "TARGET_FORMATS",
    "Choice",
    "ImageTo3DOptions",
    "MultiImageTo3DOptions",
    "OptionField",
    "TaskOptions",
    "options_from_dict",
    "panel_fields",
]

MAX_IMAGES = 4
TARGET_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
RETIRED_MODELS = frozenset({"meshy-1", "meshy-2", "meshy-3", "meshy-3-turbo", "meshy-4"})

_DATA_URI = re.compile(r"data:image/(png|jpeg);base64,", re.IGNORECASE)
_SINGLE = (IMAGE_TO_3D,)


# -- checks ---------------------------------------------------------------------------------------


def _check_http_url(name: str, value: str) -> None:
    from urllib.parse import urlsplit  # not needed to enable the add-on

    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(name, "must be an http(s) URL")


def check_image_ref(name: str, value: Any) -> None:
    """An image is an http(s) URL or a PNG/JPEG data URI within Meshy's limit (see upload.py).

    Only the head is test-decoded, so checking a 100 MB image costs no copy of it.
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
    if len(value) == start:
        raise ValidationError(name, "the data URI holds no image data")
    if len(value) > upload.MAX_DATA_URI_CHARS:
        raise ValidationError(name, f"the data URI is {upload.megabytes(len(value))}; Meshy accepts at most "
                              f"{upload.LIMIT_TEXT} per image as sent")
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
        if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
            raise ValidationError(name, f"must be between {spec.range[0]:,} and {spec.range[1]:,}")
    elif spec.type is str:
        if not isinstance(value, str):
            raise ValidationError(name, "must be text")
        if spec.choices and not spec.open_choices and value not in spec.values:
            shown = ", ".join(repr(v) if v == "" else v for v in spec.values)
            raise ValidationError(name, f"must be one of {shown}")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ValidationError(name, f"is {len(value)} characters; at most {spec.max_length} allowed")
    elif spec.type is list:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValidationError(name, "must be a list")
        if not value:
            raise ValidationError(name, "must list at least one value")
        bad = [v for v in value if v not in spec.values]
        if spec.choices and bad:
            raise ValidationError(name, f"unknown value(s) {', '.join(map(str, bad))}; "
                                  f"choose from {', '.join(spec.values)}")


# -- the dataclasses: every option, once ---------------------------------------------------------

def _short(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("data:") and len(value) > 80:
        return f"{value[:40]}...({len(value):,} characters)"
    if isinstance(value, (list, tuple)):
        return type(value)(_short(v) for v in value)
    return value


_AI_MODELS = (
    Choice("latest", "Latest", "Meshy's newest model (Meshy 6)"),
    Choice("meshy-6", "Meshy 6", "Meshy 6: best quality; PBR adds an emission map"),
    Choice("meshy-5", "Meshy 5", "Meshy 5: cheaper; no 4K texture, image enhancement or lighting removal"),
)


@dataclass(kw_only=True, init=False, repr=False, eq=False)  # compiles nothing at enable: see __repr__
class TaskOptions:
    """Options shared by both endpoints, in the panel's order.  ``None`` = not set (the server decides)."""

    kind: ClassVar[str] = ""

    # Model
    ai_model: str | None = option(
        "AI Model", "Model version: meshy-5, meshy-6 or latest (Meshy 6). Newer names pass through; "
        "meshy-4 is retired", "model", default="latest", choices=_AI_MODELS, open_choices=True)
    model_type: str | None = option(
        "Model Type", "standard, or lowpoly for a low-polygon model (single-image jobs only)", "model",
        default="standard", kinds=_SINGLE, choices=(
            Choice("standard", "Standard", "Detailed geometry"),
            Choice("lowpoly", "Low Poly", "Stylised low-poly mesh")))
    symmetry_mode: str | None = option(
        "Symmetry", "Symmetry during generation: off, auto or on", "model", default="auto", choices=(
            Choice("auto", "Auto", "Detect symmetry"), Choice("on", "On", "Enforce symmetry"),
            Choice("off", "Off", "No symmetry")))
    pose_mode: str | None = option(
        "Pose", "Pose for characters: a-pose, t-pose, or empty for none", "model", default="", choices=(
            Choice("", "None", "No specific pose"), Choice("a-pose", "A-Pose"), Choice("t-pose", "T-Pose")))
    image_enhancement: bool | None = option(
        "Enhance Image", "AI-enhance the input image; off keeps the original look. meshy-6/latest only",
        "model", default=True, rules=(MESHY6,))
    moderation: bool | None = option(
        "Moderation", "Screen the inputs for harmful content before generating", "model", default=False)
    auto_size: bool | None = option(
        "Real-World Size", "Estimate the real-world height and scale the model to it", "model", default=False)
    origin_at: str | None = option(
        "Origin", "Model origin when auto_size (Real-World Size) is on: bottom or center", "model",
        default="bottom", rules=(AUTO_SIZED,),
        choices=(Choice("bottom", "Bottom"), Choice("center", "Center")))

    # Texture
    should_texture: bool | None = option(
        "Texture", "Generate textures. Off gives an untextured mesh (cheaper)", "texture", default=True)
    enable_pbr: bool | None = option(
        "PBR Maps", "Also generate PBR maps (metallic, roughness, normal; emission on meshy-6)", "texture",
        default=False, rules=(TEXTURED,))
    hd_texture: bool | None = option(
        "4K Base Color", "Base color texture at 4K (4096x4096); PBR maps stay 2K. meshy-6/latest only",
        "texture", default=False, rules=(TEXTURED, MESHY6))
    remove_lighting: bool | None = option(
        "Remove Lighting", "Remove baked highlights and shadows from the base color. meshy-6/latest only",
        "texture", default=True, rules=(TEXTURED, MESHY6))
    texture_prompt: str | None = option(
        "Texture Prompt", "Text prompt to guide texturing (max 600 characters)", "texture",
        max_length=600, rules=(TEXTURED,))
    texture_image_url: str | None = option(
        "Texture Reference", "Reference image (a public URL or data URI) to guide texturing. Use either "
        "this or the texture prompt", "texture", rules=(TEXTURED,))

    # Remesh
    should_remesh: bool | None = option(
        "Remesh", "Run the remesh phase; off returns the highest-precision triangle mesh. Meshy's default "
        "depends on the model (off for meshy-6, on for older ones)", "remesh")
    topology: str | None = option(
        "Topology", "Remeshed topology: quad-dominant or decimated triangles", "remesh", default="triangle",
        rules=(REMESHED,), choices=(
            Choice("triangle", "Triangles", "Decimated triangle mesh"),
            Choice("quad", "Quads", "Quad-dominant mesh")))
    target_polycount: int | None = option(
        "Polycount", "Target polygon count after remeshing (100 to 300,000)", "remesh", default=30_000,
        range=(100, 300_000), rules=(REMESHED,))
    save_pre_remeshed_model: bool | None = option(
        "Keep Pre-Remesh GLB", "Also keep the GLB from before remeshing", "remesh", default=False,
        rules=(REMESHED,))

    # Output
    multi_view_thumbnails: bool | None = option(
        "Multi-View Thumbnails", "Also render front, right, back and left thumbnails (about 3 s more)",
        "output", default=False)
    alpha_thumbnail: bool | None = option(
        "Transparent Thumbnail", "Also make a transparent-background thumbnail", "output", default=False)
    target_formats: Sequence[str] | None = option(
        "Formats", "Formats to generate: glb, obj, fbx, stl, usdz, 3mf (3mf only when listed). Fewer "
        "formats finish sooner", "output", choices=tuple(Choice(f, f.upper()) for f in TARGET_FORMATS))
    webhook_url: str | None = option("Webhook URL", "URL Meshy POSTs the finished task to", "output")

    def __repr__(self) -> str:
        """The options that are set; data URIs cut short (an image is up to 100 MB of text)."""
        shown = (f"{k}={_short(v)!r}" for k, v in self.set_fields().items())
        return f"{type(self).__name__}({', '.join(shown)})"

    def set_fields(self) -> dict[str, Any]:
        """The options the caller set, by API name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    def validate(self) -> None:
        """Raise ``ValidationError`` naming the first bad field and the rule it breaks."""
        values = self.set_fields()
        for name, value in values.items():
            spec = OPTION_FIELDS[name]
            if self.kind not in spec.kinds:
                raise ValidationError(name, f"is not an option of {self.kind}")
            _check_type(spec, value)
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
        if "texture_image_url" in values:
            check_image_ref("texture_image_url", values["texture_image_url"])
            if values.get("texture_prompt"):
                raise ValidationError("texture_image_url", "use either texture_prompt or "
                                      "texture_image_url, not both")
        for name, value in values.items():
            spec = OPTION_FIELDS[name]
            for rule in spec.rules:
                if rule.rejects is not None and not rule.holds(values) and rule.rejects(spec, value):
                    raise ValidationError(name, rule.error.format(ai_model=model))
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


@dataclass(repr=False, eq=False)
class ImageTo3DOptions(TaskOptions):
    """POST /openapi/v1/image-to-3d: one image (or a prior image task) to a 3D model."""

    kind: ClassVar[str] = IMAGE_TO_3D

    image_url: str | None = option(
        "Image", "Source image: a public http(s) URL or a data:image/png|jpeg;base64 URI (JPG or PNG, up to "
        "100 MB)", "input", kinds=_SINGLE)
    input_task_id: str | None = option(
        "Input Task", "ID of a SUCCEEDED API Text to Image / Image to Image task with exactly one image, "
        "used instead of image_url", "input", kinds=_SINGLE, kw_only=True)

    def _validate_inputs(self) -> None:
        if (self.image_url is None) == (self.input_task_id is None):
            raise ValidationError("image_url", "set exactly one of image_url or input_task_id")
        if self.image_url is not None:
            check_image_ref("image_url", self.image_url)
        elif self.input_task_id is not None and not self.input_task_id.strip():
            raise ValidationError("input_task_id", "must not be empty")


@dataclass(repr=False, eq=False)
class MultiImageTo3DOptions(TaskOptions):
    """POST /openapi/v1/multi-image-to-3d: 1-4 views of the same object to one 3D model."""

    kind: ClassVar[str] = MULTI_IMAGE_TO_3D

    image_urls: Sequence[str] | None = option(
        "Images", "1 to 4 images (URLs or data URIs) of the same object from different angles", "input",
        kinds=(MULTI_IMAGE_TO_3D,))

    def _validate_inputs(self) -> None:
        urls = self.image_urls
        if urls is None or len(urls) == 0:
            raise ValidationError("image_urls", "give 1 to 4 images")
        if len(urls) > MAX_IMAGES:
            raise ValidationError("image_urls", f"got {len(urls)} images; at most {MAX_IMAGES} allowed")
        for i, url in enumerate(urls):
            check_image_ref(f"image_urls[{i}]", url)


_VALUE_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _value_type(annotation: Any) -> type:
    """bool / int / float / str / list from a field's annotation ("X | None"), read as written: this runs
    when the add-on is enabled, where typing.get_type_hints (an eval per field) cost a millisecond."""
    inner = str(annotation).replace(" | None", "").strip()
    return list if inner.startswith("Sequence[") else _VALUE_TYPES[inner]


def _collect(*classes: type[TaskOptions]) -> dict[str, OptionField]:
    fields: dict[str, OptionField] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name not in fields:
                fields[f.name] = OptionField(f.name, _value_type(f.type), **f.metadata["option"])
    return fields


OPTION_FIELDS: dict[str, OptionField] = _collect(ImageTo3DOptions, MultiImageTo3DOptions)


def panel_fields(group: str | None = None) -> list[OptionField]:
    """The settings a UI offers (every option but the input images), in panel order; one group if given."""
    return [f for f in OPTION_FIELDS.values() if f.group in GROUPS and (group is None or f.group == group)]


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
    unknown = sorted(str(k) for k in mapping if k not in OPTION_FIELDS or kind not in OPTION_FIELDS[k].kinds)
    if unknown:
        hint = " (use pose_mode)" if "is_a_t_pose" in unknown else ""
        raise ValidationError(", ".join(unknown), f"unknown option(s) for {kind}{hint}")
    return cls(**dict(mapping))
