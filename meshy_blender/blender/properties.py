"""The panel's settings: every documented Meshy option, stored per scene.

Options hold the server's documented defaults; only values that differ from them
are sent (see to_options), so Meshy's own defaults stay Meshy's.
"""

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

AI_MODELS = [
    ("latest", "Latest", "Meshy's newest model (Meshy 6)"),
    ("meshy-6", "Meshy 6", "Meshy 6: best quality; PBR adds an emission map"),
    ("meshy-5", "Meshy 5", "Meshy 5: cheaper (15 credits textured, 5 untextured)"),
]
TRI_STATE = [
    ("DEFAULT", "Model Default", "Let Meshy decide (off for Meshy 6, on for older models)"),
    ("ON", "On", ""),
    ("OFF", "Off", ""),
]
FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
# Settings that are Meshy options (the operators take each of them as a property too).
OPTION_NAMES = (
    "ai_model", "model_type", "symmetry_mode", "pose_mode", "image_enhancement", "moderation", "auto_size",
    "origin_at", "should_texture", "enable_pbr", "hd_texture", "remove_lighting", "texture_prompt",
    "texture_image_url", "should_remesh", "topology", "target_polycount", "save_pre_remeshed_model",
    "multi_view_thumbnails", "alpha_thumbnail", "format_extra", "webhook_url",
)

# Option name -> the server's documented default; values equal to it are not sent.
DEFAULTS = {
    "ai_model": "latest",
    "model_type": "standard",
    "should_texture": True,
    "enable_pbr": False,
    "hd_texture": False,
    "texture_prompt": "",
    "texture_image_url": "",
    "image_enhancement": True,
    "remove_lighting": True,
    "topology": "triangle",
    "target_polycount": 30000,
    "save_pre_remeshed_model": False,
    "symmetry_mode": "auto",
    "pose_mode": "NONE",  # Blender enums cannot use "" as an identifier; "NONE" is Meshy's ""
    "moderation": False,
    "auto_size": False,
    "origin_at": "bottom",
    "multi_view_thumbnails": False,
    "alpha_thumbnail": False,
    "webhook_url": "",
}
TEXTURE_ONLY = ("enable_pbr", "hd_texture", "texture_prompt", "texture_image_url", "remove_lighting")
MESHY6_ONLY = ("hd_texture", "image_enhancement", "remove_lighting")
REMESH_ONLY = ("topology", "target_polycount", "save_pre_remeshed_model")


class MeshySettings(bpy.types.PropertyGroup):
    source: EnumProperty(
        name="Input",
        items=[
            ("IMAGE", "Image", "Send one Blender image (Image to 3D)"),
            ("REFERENCES", "Reference Photos", "Send the selected reference-image empties (1-4 photos)"),
        ],
        default="IMAGE",
    )
    image: PointerProperty(name="Image", type=bpy.types.Image, description="The image to turn into a model")

    # Model
    ai_model: EnumProperty(name="AI Model", items=AI_MODELS, default="latest")
    model_type: EnumProperty(
        name="Model Type",
        items=[("standard", "Standard", "Detailed geometry"), ("lowpoly", "Low Poly", "Stylised low-poly mesh")],
        default="standard",
        description="Single-image jobs only",
    )
    symmetry_mode: EnumProperty(
        name="Symmetry",
        items=[("auto", "Auto", "Detect symmetry"), ("on", "On", "Enforce symmetry"), ("off", "Off", "None")],
        default="auto",
    )
    pose_mode: EnumProperty(
        name="Pose",
        items=[("NONE", "None", "No specific pose"), ("a-pose", "A-Pose", ""), ("t-pose", "T-Pose", "")],
        default="NONE",
        description="Pose for characters",
    )
    image_enhancement: BoolProperty(
        name="Enhance Image", default=True, description="AI-enhance the input (Meshy 6 only); off keeps its look"
    )
    moderation: BoolProperty(name="Moderation", default=False, description="Screen inputs for harmful content")
    auto_size: BoolProperty(
        name="Real-World Size", default=False, description="Estimate the object's real height and scale it"
    )
    origin_at: EnumProperty(
        name="Origin",
        items=[("bottom", "Bottom", ""), ("center", "Center", "")],
        default="bottom",
        description="Model origin (with Real-World Size)",
    )

    # Texture
    should_texture: BoolProperty(name="Texture", default=True, description="Generate textures")
    enable_pbr: BoolProperty(
        name="PBR Maps", default=False, description="Metallic, roughness and normal maps (+ emission on Meshy 6)"
    )
    hd_texture: BoolProperty(name="4K Base Color", default=False, description="4096 px base colour (Meshy 6 only)")
    remove_lighting: BoolProperty(
        name="Remove Lighting", default=True, description="Remove baked highlights and shadows (Meshy 6 only)"
    )
    texture_prompt: StringProperty(
        name="Texture Prompt", default="", maxlen=600, description="Text to guide texturing (600 characters at most)"
    )
    texture_image_url: StringProperty(
        name="Texture Reference URL",
        default="",
        description="A public image URL (or data URI) to guide texturing; the prompt wins if both are set",
    )

    # Remesh
    should_remesh: EnumProperty(name="Remesh", items=TRI_STATE, default="DEFAULT")
    topology: EnumProperty(
        name="Topology",
        items=[("triangle", "Triangles", "Decimated triangle mesh"), ("quad", "Quads", "Quad-dominant mesh")],
        default="triangle",
    )
    target_polycount: IntProperty(
        name="Polycount", default=30000, min=100, max=300000, description="Target polygons (100 to 300,000)"
    )
    save_pre_remeshed_model: BoolProperty(
        name="Keep Pre-Remesh GLB", default=False, description="Also store the GLB from before remeshing"
    )

    # Output
    multi_view_thumbnails: BoolProperty(
        name="Multi-View Thumbnails", default=False, description="Front, right, back and left thumbnails"
    )
    alpha_thumbnail: BoolProperty(name="Transparent Thumbnail", default=False)
    webhook_url: StringProperty(
        name="Webhook URL", default="", description="Meshy POSTs the finished task to this URL (optional)"
    )
    format_extra: BoolProperty(
        name="All Formats",
        default=False,
        description="Ask Meshy for every format (FBX, OBJ, STL, USDZ, 3MF) besides the GLB Blender imports",
    )

    # Panel state
    show_model: BoolProperty(name="Model", default=True)
    show_texture: BoolProperty(name="Texture", default=True)
    show_remesh: BoolProperty(name="Remesh", default=False)
    show_output: BoolProperty(name="Output", default=False)
    show_history: BoolProperty(name="Account History", default=False)


def to_options(settings, multi: bool = False) -> dict:
    """The options the user changed from Meshy's defaults, by API field name."""
    out = {}
    meshy6 = settings.ai_model in ("latest", "meshy-6")
    for name, default in DEFAULTS.items():
        if multi and name == "model_type":
            continue
        if not settings.should_texture and name in TEXTURE_ONLY:
            continue
        if not meshy6 and name in MESHY6_ONLY:
            continue
        if name == "origin_at" and not settings.auto_size:
            continue
        if name in REMESH_ONLY and settings.should_remesh == "OFF":
            continue
        value = getattr(settings, name)
        if value != default:
            out[name] = value
    if settings.should_remesh != "DEFAULT":
        out["should_remesh"] = settings.should_remesh == "ON"
    if settings.format_extra:
        out["target_formats"] = list(FORMATS)
    return out


def credits_for(settings) -> int:
    """The seed's credit table: what a job costs before it is sent."""
    textured = settings.should_texture
    if settings.ai_model == "meshy-5":
        return 15 if textured else 5
    return 30 if textured else 20


CLASSES = (MeshySettings,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.meshy = PointerProperty(type=MeshySettings)


def unregister():
    del bpy.types.Scene.meshy
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
