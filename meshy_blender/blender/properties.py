"""The panel's settings: every documented Meshy option, stored per scene, built from meshy/options.py.

Each option's property (name, tooltip, default, choices, range) comes from its OptionField, so a
new option in options.py appears here, in the panel, in the operators and on the command line with
no change in this file. Settings hold Meshy's documented defaults; only values that differ from them
are sent (see to_options), so Meshy's own defaults stay Meshy's.

Blender's forms of an option:
- bool -> a checkbox; a bool whose default depends on the model (should_remesh) -> Model Default/On/Off
- int -> a number with the documented range; text -> a text field (free text "" = not set)
- text with choices -> a dropdown (Blender identifiers cannot be empty: the choice "" is "NONE")
- a list -> one switch: on asks for every choice, off leaves Meshy's default
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from ..meshy import IMAGE_TO_3D, MULTI_IMAGE_TO_3D
from ..meshy.option_spec import OptionField, asks_for_something
from ..meshy.options import panel_fields

# Settings whose name differs from the API field: the names saved .blend files already know.
SETTING_NAMES = {"target_formats": "format_extra"}
EMPTY_CHOICE = "NONE"
TRI_STATE = {"DEFAULT": None, "ON": True, "OFF": False}

OPTIONS: tuple[OptionField, ...] = tuple(panel_fields())
BY_SETTING = {SETTING_NAMES.get(f.name, f.name): f for f in OPTIONS}
OPTION_NAMES = tuple(BY_SETTING)  # the settings that are Meshy options (the operators take each too)
_ENUM_ITEMS: dict[str, list] = {}  # Blender keeps pointers into enum items: they must stay referenced


def setting_name(spec: OptionField) -> str:
    return SETTING_NAMES.get(spec.name, spec.name)


def _tri_state(spec: OptionField) -> bool:
    return spec.type is bool and spec.server_default is None


def _enum_id(value: str) -> str:
    return value or EMPTY_CHOICE


def _items(spec: OptionField) -> list:
    if spec.name not in _ENUM_ITEMS:
        if _tri_state(spec):
            items = [("DEFAULT", "Model Default", "Let Meshy decide (the default depends on the model)"),
                     ("ON", "On", ""), ("OFF", "Off", "")]
        else:
            items = [(_enum_id(c.value), c.label, c.description) for c in spec.choices]
        _ENUM_ITEMS[spec.name] = items
    return _ENUM_ITEMS[spec.name]


def blender_default(spec: OptionField):
    """The setting's value that means "Meshy's default"."""
    if _tri_state(spec):
        return "DEFAULT"
    if spec.type is list:
        return False
    if spec.type is str:
        return _enum_id(spec.server_default or "") if spec.choices else ""
    return spec.server_default


def make_property(spec: OptionField, for_scripts: bool = False):
    """The bpy property for one option. `for_scripts`: soft limits only, so a script's out-of-range
    value reaches validation and gets Meshy's message instead of a silent clamp or cut."""
    name, tip, default = spec.label, spec.description, blender_default(spec)
    if _tri_state(spec) or (spec.type is str and spec.choices):
        return EnumProperty(name=name, description=tip, items=_items(spec), default=default)
    if spec.type is list:
        every = ", ".join(c.label for c in spec.choices)
        return BoolProperty(name=f"All {spec.label}", default=False,
                            description=f"{tip}. On: ask for every one ({every}); off: Meshy's default")
    if spec.type is bool:
        return BoolProperty(name=name, description=tip, default=default)
    if spec.type is int:
        lo, hi = spec.range or (-(2**31), 2**31 - 1)
        if for_scripts:
            return IntProperty(name=name, description=tip, default=default, soft_min=lo, soft_max=hi)
        return IntProperty(name=name, description=tip, default=default, min=lo, max=hi)
    maxlen = 0 if for_scripts else spec.max_length or 0
    return StringProperty(name=name, description=tip, default=default, maxlen=maxlen)


def operator_properties() -> dict:
    """Every option as an operator property (same definitions as the panel, soft limits)."""
    return {setting_name(f): make_property(f, for_scripts=True) for f in OPTIONS}


def api_value(spec: OptionField, value):
    """A setting's value in API terms; None = not set (Meshy decides)."""
    if _tri_state(spec):
        return TRI_STATE[value]
    if spec.type is list:
        return list(spec.values) if value else None
    if spec.type is str:
        if spec.choices:
            return "" if value == EMPTY_CHOICE and "" in spec.values else value
        return value or None
    return value


def api_values(settings) -> dict:
    """Every option's value in API terms, by API name (settings: the scene's, or any object like it)."""
    return {f.name: api_value(f, getattr(settings, setting_name(f))) for f in OPTIONS}


def inactive_reasons(settings, multi: bool = False) -> dict:
    """Setting name -> why the panel greys it ('' when it applies), from each option's rules."""
    kind = MULTI_IMAGE_TO_3D if multi else IMAGE_TO_3D
    values = api_values(settings)
    return {setting_name(f): f.inactive_reason(values, kind) for f in OPTIONS}


def to_options(settings, multi: bool = False, explicit=()) -> dict:
    """The options the user changed from Meshy's defaults, by API field name.

    Options that do not apply (greyed in the panel) are left out; but a setting named in `explicit`
    (given to an operator by a script) that asks for something a rule refuses is kept, so validation
    tells the caller why (HD texture on meshy-5, PBR without texturing) instead of silently dropping it.
    """
    kind = MULTI_IMAGE_TO_3D if multi else IMAGE_TO_3D
    values = api_values(settings)
    out = {}
    for spec in OPTIONS:
        value = values[spec.name]
        if value is None or value == spec.server_default or kind not in spec.kinds:
            continue
        broken = [rule for rule in spec.rules if not rule.holds(values)]
        if broken and not (setting_name(spec) in explicit and asks_for_something(value)
                           and any(r.rejects is not None and r.rejects(spec, value) for r in broken)):
            continue
        out[spec.name] = value
    return out


def _settings_class():
    """The PropertyGroup, its annotations built here at class creation (Blender reads them at registration)."""
    annotations = {
        "source": EnumProperty(
            name="Input",
            items=[
                ("IMAGE", "Image", "Send one Blender image (Image to 3D)"),
                ("REFERENCES", "Reference Photos", "Send the selected reference-image empties (1-4 photos)"),
            ],
            default="IMAGE",
        ),
        "image": PointerProperty(name="Image", type=bpy.types.Image, description="The image to turn into a model"),
        **{setting_name(f): make_property(f) for f in OPTIONS},
        # Panel state
        "show_model": BoolProperty(name="Model", default=True),
        "show_texture": BoolProperty(name="Texture", default=True),
        "show_remesh": BoolProperty(name="Remesh", default=False),
        "show_output": BoolProperty(name="Output", default=False),
        "show_history": BoolProperty(name="Account History", default=False),
    }
    doc = "Meshy options and the panel's input, per scene"
    return type("MeshySettings", (bpy.types.PropertyGroup,), {"__doc__": doc, "__annotations__": annotations})


MeshySettings = _settings_class()
CLASSES = (MeshySettings,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.meshy = PointerProperty(type=MeshySettings)  # type: ignore[attr-defined]


def unregister():
    del bpy.types.Scene.meshy  # type: ignore[attr-defined]
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
