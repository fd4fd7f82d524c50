"""Request options of the follow-ups (Remesh, Retexture, Rigging, Animation), declared once like Image to 3D's.

Each option is one dataclass field with an ``option(...)`` (option_spec.py): Meshy's field name,
label, tooltip, choices, range, Meshy's default and the rules under which it applies. ``None`` is
"not set": ``to_payload()`` sends only what was set. Animation's ``operation_type`` and ``fps``
are declared flat (a UI shows two settings) and sent nested as Meshy's ``post_process`` object.
The checks that need the source task (its kind, its face count) are in followups.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from . import ANIMATION, FOLLOWUP_KINDS, REMESH, RETEXTURE, RIGGING
from .errors import ValidationError
from .model_refs import MAX_RIG_FACES, check_model_ref, extension, glb_faces
from .option_spec import MESHY6, Choice, OptionField, Rule, option
from .options import _check_type, _value_type, check_image_ref

__all__ = [
    "FOLLOWUP_FIELDS", "FOLLOWUP_GROUPS", "AnimationOptions", "FollowupOptions", "RemeshOptions",
    "RetextureOptions", "RiggingOptions", "followup_options_class", "followup_options_from_dict",
]

FOLLOWUP_GROUPS = {"remesh": "Remesh", "texture": "Texture", "rig": "Rig", "animation": "Animation",
                   "output": "Output"}
MODEL_EXTENSIONS = ("glb", "gltf", "obj", "fbx", "stl")
REMESH_FORMATS = ("glb", "fbx", "obj", "usdz", "blend", "stl", "3mf")
RETEXTURE_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
STYLE_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png")
FPS_VALUES = (24, 25, 30, 60)
POST_PROCESS = ("operation_type", "fps")

CONVERT_ONLY = Rule("geometry", "convert_format_only", (True,), "ignored with Convert Only",
                    "is ignored while convert_format_only is on: turn convert_format_only off or leave this unset",
                    lambda field, value: value != field.server_default)
DECIMATED = Rule("polycount", "decimation_mode", (1, 2, 3, 4), "Decimation Mode sets the count",
                 "is overridden by decimation_mode: set either target_polycount or decimation_mode",
                 lambda field, value: True)
CHANGE_FPS = Rule("change_fps", "operation_type", (None, "fbx2usdz", "extract_armature"), "only with Change FPS",
                  "only applies with operation_type change_fps: set operation_type to change_fps or leave fps unset",
                  lambda field, value: True)


# -- checks ---------------------------------------------------------------------------------------


def _check_style_image(name: str, value: str, extensions: tuple[str, ...]) -> None:
    check_image_ref(name, value)
    if value[:5].lower() == "data:":
        if extensions == ("png",) and not value.lower().startswith("data:image/png;"):
            raise ValidationError(name, "Meshy takes a .png texture here: save the texture as PNG")
        return
    ext = extension(value)
    if ext and ext not in extensions:
        raise ValidationError(name, f"Meshy takes {', '.join('.' + e for e in extensions)} images here, not "
                              f".{ext}: save it as PNG")


def _check_value(spec: OptionField, value: Any) -> None:
    """options._check_type, plus numbers (float) and whole numbers with a fixed set of values."""
    if spec.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(spec.name, "must be a number")
        return
    _check_type(spec, value)
    if spec.type is int and spec.choices and str(value) not in spec.values:
        raise ValidationError(spec.name, f"must be one of {', '.join(spec.values)}")


# -- the dataclasses: every option, once ---------------------------------------------------------


@dataclass(kw_only=True)
class FollowupOptions:
    """What every follow-up shares: set_fields / validate / to_payload, like TaskOptions."""

    kind: ClassVar[str] = ""

    def set_fields(self) -> dict[str, Any]:
        """The options the caller set, by API name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def validate(self) -> None:
        """Raise ``ValidationError`` naming the first bad field, the rule it breaks and what to do."""
        values = self.set_fields()
        fields = FOLLOWUP_FIELDS[self.kind]
        for name, value in values.items():
            _check_value(fields[name], value)
        self._validate_source(values)
        for name, value in values.items():
            spec = fields[name]
            for rule in spec.rules:
                if rule.rejects is not None and not rule.holds(values) and rule.rejects(spec, value):
                    raise ValidationError(name, rule.error.format(ai_model=values.get("ai_model")))
        self._validate_fields(values)

    def _validate_source(self, values: dict[str, Any]) -> None:
        if ("input_task_id" in values) == ("model_url" in values):
            raise ValidationError("input_task_id", "set exactly one source: input_task_id (a finished task) or "
                                  "model_url (a model file); with both, Meshy would use input_task_id")
        if "input_task_id" in values and not values["input_task_id"].strip():
            raise ValidationError("input_task_id", "must not be empty")
        if "model_url" in values:
            check_model_ref("model_url", values["model_url"], ("glb",) if self.kind == RIGGING else MODEL_EXTENSIONS)

    def _validate_fields(self, values: dict[str, Any]) -> None:
        """Rules across fields (overridden per kind)."""

    def to_payload(self) -> dict[str, Any]:
        """Validate, then the JSON body: only the fields that were set."""
        self.validate()
        payload = self.set_fields()
        if "target_formats" in payload:
            payload["target_formats"] = list(dict.fromkeys(payload["target_formats"]))
        post = {k: payload.pop(k) for k in POST_PROCESS if k in payload}
        if post:
            payload["post_process"] = post
        return payload


_SOURCE_TASK = "ID of the finished task to start from (used instead of model_url)"
_MODEL_URL = "The model to start from instead of a task: a public URL or a data:application/octet-stream;base64 URI"


@dataclass(kw_only=True)
class RemeshOptions(FollowupOptions):
    """POST /openapi/v1/remesh: a finished model (or a model file) with another topology or polycount."""

    kind: ClassVar[str] = REMESH

    input_task_id: str | None = option("Source Task", _SOURCE_TASK + " (Text to 3D, Image to 3D or Retexture)",
                                       "input", kinds=(REMESH,))
    model_url: str | None = option("Model File", _MODEL_URL + " (.glb .gltf .obj .fbx .stl)", "input", kinds=(REMESH,))
    topology: str | None = option(
        "Topology", "quad (quad-dominant) or triangle (decimated triangles)", "remesh", default="triangle",
        kinds=(REMESH,), rules=(CONVERT_ONLY,), choices=(
            Choice("triangle", "Triangles", "Decimated triangle mesh"), Choice("quad", "Quads", "Quad-dominant mesh")))
    target_polycount: int | None = option(
        "Polycount", "Target polygon count (100 to 300,000); the result may deviate", "remesh", default=30_000,
        range=(100, 300_000), kinds=(REMESH,), rules=(DECIMATED, CONVERT_ONLY))
    decimation_mode: int | None = option(
        "Decimation Mode", "Adaptive detail level instead of a polycount: 1 ultra, 2 high, 3 medium, 4 low",
        "remesh", range=(1, 4), kinds=(REMESH,), rules=(CONVERT_ONLY,), choices=(
            Choice("1", "Ultra"), Choice("2", "High"), Choice("3", "Medium"), Choice("4", "Low")))
    resize_height: float | None = option(
        "Height", "Scale to this height in metres; 0 keeps the size (deprecated by Meshy: the Resize API)",
        "remesh", default=0.0, kinds=(REMESH,), rules=(CONVERT_ONLY,))
    resize_longest_side: float | None = option(
        "Longest Side", "Scale so the longest side is this many metres (deprecated by Meshy: the Resize API)",
        "remesh", kinds=(REMESH,), rules=(CONVERT_ONLY,))
    auto_size: bool | None = option(
        "Real-World Size", "Let Meshy estimate the real height and scale to it (deprecated by Meshy)", "remesh",
        default=False, kinds=(REMESH,), rules=(CONVERT_ONLY,))
    origin_at: str | None = option(
        "Origin", "Where the origin goes: bottom or center ('' keeps it; bottom with Real-World Size)", "remesh",
        default="", kinds=(REMESH,), choices=(Choice("", "Keep"), Choice("bottom", "Bottom"),
                                              Choice("center", "Center")))
    convert_format_only: bool | None = option(
        "Convert Only", "Only convert the formats; topology, polycount and size are ignored (deprecated by Meshy)",
        "remesh", default=False, kinds=(REMESH,))
    target_formats: Sequence[str] | None = option(
        "Formats", "Formats to make: glb, fbx, obj, usdz, blend, stl, 3mf", "output", default=("glb",),
        kinds=(REMESH,), choices=tuple(Choice(f, f.upper()) for f in REMESH_FORMATS))
    alpha_thumbnail: bool | None = option(
        "Transparent Thumbnail", "Also make a transparent-background thumbnail", "output", default=False,
        kinds=(REMESH,))

    def _validate_fields(self, values: dict[str, Any]) -> None:
        sizes = [n for n in ("resize_height", "resize_longest_side", "auto_size")
                 if values.get(n) not in (None, False, 0, 0.0)]
        if len(sizes) > 1:
            raise ValidationError(sizes[1], f"cannot be combined with {sizes[0]}: Meshy takes one way to size "
                                  "the model, so set only one of resize_height, resize_longest_side, auto_size")
        if values.get("resize_height", 0) < 0:
            raise ValidationError("resize_height", "must be 0 (keep the size) or a positive number of metres")
        if "resize_longest_side" in values and values["resize_longest_side"] <= 0:
            raise ValidationError("resize_longest_side", "must be a positive number of metres")


@dataclass(kw_only=True)
class RetextureOptions(FollowupOptions):
    """POST /openapi/v1/retexture: new textures for a finished model from a text prompt or a style image."""

    kind: ClassVar[str] = RETEXTURE

    input_task_id: str | None = option("Source Task", _SOURCE_TASK + " (Text to 3D, Image to 3D or Remesh)",
                                       "input", kinds=(RETEXTURE,))
    model_url: str | None = option("Model File", _MODEL_URL + " (.glb .gltf .obj .fbx .stl)", "input",
                                   kinds=(RETEXTURE,))
    text_style_prompt: str | None = option(
        "Style Prompt", "Describe the new look (max 600 characters); or give a style image", "texture",
        max_length=600, kinds=(RETEXTURE,))
    image_style_url: str | None = option(
        "Style Image", "An image (.jpg .jpeg .png: URL or data URI) whose look the texture takes; or a prompt",
        "texture", kinds=(RETEXTURE,))
    ai_model: str | None = option(
        "AI Model", "meshy-5, meshy-6 or latest (Meshy 6); newer names pass through", "texture", default="latest",
        kinds=(RETEXTURE,), open_choices=True, choices=(
            Choice("latest", "Latest", "Meshy's newest model"), Choice("meshy-6", "Meshy 6"),
            Choice("meshy-5", "Meshy 5", "No 4K texture, no lighting removal, no emission map")))
    enable_original_uv: bool | None = option(
        "Keep UVs", "Keep the model's UVs (and its textures); a model without UVs then fails. Meshy's default: "
        "off per its docs, on per its MCP reference", "texture", kinds=(RETEXTURE,))
    enable_pbr: bool | None = option(
        "PBR Maps", "Also make metallic, roughness and normal maps (+ emission on meshy-6)", "texture", default=False,
        kinds=(RETEXTURE,))
    hd_texture: bool | None = option(
        "4K Base Color", "Base colour at 4096x4096; PBR maps stay 2K. meshy-6/latest only", "texture", default=False,
        kinds=(RETEXTURE,), rules=(MESHY6,))
    remove_lighting: bool | None = option(
        "Remove Lighting", "Remove baked highlights and shadows. meshy-6/latest only", "texture", default=True,
        kinds=(RETEXTURE,), rules=(MESHY6,))
    target_formats: Sequence[str] | None = option(
        "Formats", "Formats to make: glb, obj, fbx, stl, usdz, 3mf (all but 3mf when unset)", "output",
        kinds=(RETEXTURE,), choices=tuple(Choice(f, f.upper()) for f in RETEXTURE_FORMATS))
    alpha_thumbnail: bool | None = option(
        "Transparent Thumbnail", "Also make a transparent-background thumbnail", "output", default=False,
        kinds=(RETEXTURE,))

    def _validate_fields(self, values: dict[str, Any]) -> None:
        prompt, image = values.get("text_style_prompt"), values.get("image_style_url")
        if not prompt and not image:
            raise ValidationError("text_style_prompt", "Retexture needs a style: write a text_style_prompt or "
                                  "give an image_style_url")
        if prompt and image:
            raise ValidationError("image_style_url", "Meshy uses the style image and ignores the prompt when both "
                                  "are given: set only one of text_style_prompt or image_style_url")
        if image:
            _check_style_image("image_style_url", image, STYLE_IMAGE_EXTENSIONS)
        model = values.get("ai_model")
        if model is not None and not model.strip():
            raise ValidationError("ai_model", "must not be empty")


@dataclass(kw_only=True)
class RiggingOptions(FollowupOptions):
    """POST /openapi/v1/rigging: a skeleton and skin for a textured humanoid, with walking and running clips."""

    kind: ClassVar[str] = RIGGING

    input_task_id: str | None = option("Source Task", _SOURCE_TASK + " (a textured humanoid character)", "input",
                                       kinds=(RIGGING,))
    model_url: str | None = option("Model File", _MODEL_URL + " (.glb only, facing +Z)", "input", kinds=(RIGGING,))
    height_meters: float | None = option(
        "Height", "The character's height in metres", "rig", default=1.7, kinds=(RIGGING,))
    texture_image_url: str | None = option(
        "Texture", "A UV-unwrapped base colour image (.png: URL or data URI) for a model_url", "rig",
        kinds=(RIGGING,))

    def _validate_fields(self, values: dict[str, Any]) -> None:
        if "height_meters" in values and values["height_meters"] <= 0:
            raise ValidationError("height_meters", "must be a positive number of metres (Meshy's default is 1.7)")
        if "texture_image_url" in values:
            _check_style_image("texture_image_url", values["texture_image_url"], ("png",))
        url = values.get("model_url", "")
        faces = glb_faces(url) if url[:5].lower() == "data:" else None
        if faces is not None and faces > MAX_RIG_FACES:
            raise ValidationError("model_url", f"the model has {faces:,} faces and Meshy rigs at most "
                                  f"{MAX_RIG_FACES:,}: remesh it first (e.g. target_polycount 100000), then rig "
                                  "the remeshed model")


@dataclass(kw_only=True)
class AnimationOptions(FollowupOptions):
    """POST /openapi/v1/animations: a library action applied to a rigged character."""

    kind: ClassVar[str] = ANIMATION

    rig_task_id: str | None = option("Rig Task", "ID of the SUCCEEDED rigging task to animate", "input",
                                     kinds=(ANIMATION,))
    action_id: int | None = option("Action", "The action's id in Meshy's animation library (e.g. 0 Idle)",
                                   "animation", kinds=(ANIMATION,))
    operation_type: str | None = option(
        "Post-Process", "Also make: change_fps (another frame rate), fbx2usdz (a USDZ), extract_armature "
        "(the armature alone)", "animation", kinds=(ANIMATION,), choices=(
            Choice("change_fps", "Change FPS"), Choice("fbx2usdz", "USDZ"),
            Choice("extract_armature", "Armature Only")))
    fps: int | None = option("Frame Rate", "Frames per second for change_fps: 24, 25, 30 or 60", "animation",
                             default=30, kinds=(ANIMATION,), rules=(CHANGE_FPS,),
                             choices=tuple(Choice(str(v), f"{v} fps") for v in FPS_VALUES))

    def _validate_source(self, values: dict[str, Any]) -> None:
        if not (values.get("rig_task_id") or "").strip():
            raise ValidationError("rig_task_id", "is required: the id of a finished rigging task (rig the model first)")
        if "action_id" not in values:
            raise ValidationError("action_id", "is required: pick an action from Meshy's animation library")
        if values["action_id"] < 0:
            raise ValidationError("action_id", "must be an id from Meshy's animation library (0 or more)")


def _collect(cls: type[FollowupOptions]) -> dict[str, OptionField]:
    return {f.name: OptionField(f.name, _value_type(f.type), **f.metadata["option"])
            for f in dataclasses.fields(cls)}


_CLASSES: dict[str, type[FollowupOptions]] = {
    REMESH: RemeshOptions, RETEXTURE: RetextureOptions, RIGGING: RiggingOptions, ANIMATION: AnimationOptions}
# kind -> option name -> its description (the same name means another thing per operation)
FOLLOWUP_FIELDS: dict[str, dict[str, OptionField]] = {kind: _collect(cls) for kind, cls in _CLASSES.items()}
assert set(_CLASSES) == set(FOLLOWUP_KINDS)


def followup_options_class(kind: str) -> type[FollowupOptions]:
    try:
        return _CLASSES[kind]
    except KeyError:
        raise ValidationError("kind", f"must be one of {', '.join(FOLLOWUP_KINDS)}") from None


def followup_options_from_dict(kind: str, mapping: Mapping[str, Any]) -> FollowupOptions:
    """Options from Meshy's field names (``**options``); ``post_process={...}`` is taken as Meshy nests it."""
    cls = followup_options_class(kind)
    values = dict(mapping)
    post = values.pop("post_process", None)
    if post is not None:
        if kind != ANIMATION or not isinstance(post, Mapping):
            raise ValidationError("post_process", "is an object of animation tasks: {operation_type, fps}")
        unknown_post = sorted(str(k) for k in post if k not in POST_PROCESS)
        if unknown_post:
            raise ValidationError(", ".join(unknown_post), "unknown post_process field(s); use operation_type, fps")
        values.update(post)
    unknown = sorted(str(k) for k in values if k not in FOLLOWUP_FIELDS[kind])
    if unknown:
        raise ValidationError(", ".join(unknown), f"unknown option(s) for {kind}; the options are "
                              f"{', '.join(FOLLOWUP_FIELDS[kind])}")
    return cls(**values)
