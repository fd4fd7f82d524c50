"""Follow-up operators: meshy.remesh_task, retexture_task, rig_task, animate_task, make_lods, followup_menu.

Same names and options as the Python API (api.remesh ...; Meshy's field names), the same code behind
both (followup_jobs.py). From the job list each opens a dialog with its options and the cost line
before anything is sent; from a script it runs at once with the properties given. Only the options
the caller set are sent (Meshy's defaults apply to the rest). None of them waits on the network.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..meshy.errors import ReportableError
from ..meshy.followup_options import FPS_VALUES
from . import addon, report, runtime

REMESH, RETEXTURE, RIGGING, ANIMATION = "remesh", "retexture", "rigging", "animations"
_AI_MODELS = [("latest", "Latest", "Meshy's newest model"), ("meshy-6", "Meshy 6", ""), ("meshy-5", "Meshy 5", "")]
_TOPOLOGY = [("triangle", "Triangles", "Decimated triangle mesh"), ("quad", "Quads", "Quad-dominant mesh")]


def _actions(self, context):
    from ..meshy.followups import ANIMATION_LIBRARY

    return [(str(a.action_id), a.label, f"{a.category} / {a.sub_category}") for a in ANIMATION_LIBRARY]


class _FollowupOperator(bpy.types.Operator):
    """What every follow-up operator shares: the source, the dialog with its cost line, the submit."""

    bl_options = {"REGISTER"}
    kind = ""
    fields: tuple[str, ...] = ()

    job_id: StringProperty(name="Source", description="The finished job (its id) or a Meshy task id to start from",
                           options={"SKIP_SAVE"})
    new_job_id: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        reason = addon.unavailable_reason(context)
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def draw(self, context):
        from .followup_jobs import cost_line

        layout = self.layout
        for name in self.fields:
            layout.prop(self, name)
        layout.label(text=cost_line(self.kind, self.count()), icon="FUND")

    def count(self) -> int:
        return 1

    def chosen(self) -> dict:
        """The options the caller set (by Meshy's field names); a float property's 1.7999999523 sent as 1.8."""
        values = {name: getattr(self, name) for name in self.fields if self.properties.is_property_set(name)}
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}

    def start(self, context) -> list[str]:
        from . import followup_jobs

        return [followup_jobs.submit(context, self.kind, self.job_id, self.chosen())]

    def execute(self, context):
        from .followup_jobs import cost_line

        try:
            ids = self.start(context)
        except (ReportableError, RuntimeError) as exc:
            report.tell("ERROR", report.message_of(exc), op=self, panel=True)
            return {"CANCELLED"}
        except OSError as exc:
            report.tell("ERROR", f"Cannot write the job record ({exc.strerror or exc}): check the library folder "
                        "in the add-on preferences and free disk space", op=self, panel=True)
            return {"CANCELLED"}
        self.new_job_id = ids[0]
        view = runtime.engine(context).get(ids[0])
        label = view.label if view else ids[0]
        report.tell("INFO", f"submitted {label}" + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
                    + f" ({cost_line(self.kind, len(ids))})", op=self)
        return {"FINISHED"}


class MESHY_OT_remesh_task(_FollowupOperator):
    """Remesh the job's model with Meshy: another polycount or quad topology (5 credits)"""

    bl_idname = "meshy.remesh_task"
    bl_label = "Remesh"
    kind = REMESH
    fields = ("target_polycount", "topology")

    target_polycount: IntProperty(name="Polycount", default=30_000, min=100, max=300_000,
                                  description="Target polygon count; the result may deviate")
    topology: EnumProperty(name="Topology", items=_TOPOLOGY, default="triangle")


class MESHY_OT_retexture_task(_FollowupOperator):
    """New textures for the job's model from a prompt or a style image (10 credits)"""

    bl_idname = "meshy.retexture_task"
    bl_label = "Retexture"
    kind = RETEXTURE
    fields = ("text_style_prompt", "enable_pbr", "ai_model", "hd_texture", "enable_original_uv")

    text_style_prompt: StringProperty(name="Style Prompt", description="Describe the new look (max 600 characters)",
                                      maxlen=600)
    image_name: StringProperty(name="Style Image", description="A Blender image whose look the texture takes "
                               "(instead of a prompt)")
    enable_pbr: BoolProperty(name="PBR Maps", default=False)
    ai_model: EnumProperty(name="AI Model", items=_AI_MODELS, default="latest")
    hd_texture: BoolProperty(name="4K Base Color", default=False)
    enable_original_uv: BoolProperty(name="Keep UVs", default=False)

    def draw(self, context):
        self.layout.prop_search(self, "image_name", bpy.data, "images")
        super().draw(context)

    def chosen(self) -> dict:
        options = super().chosen()
        if self.image_name:
            image = bpy.data.images.get(self.image_name)
            if image is None:
                from ..meshy.errors import ValidationError

                raise ValidationError("image_style_url", f"there is no image named '{self.image_name}' in this "
                                      "file: pick one from the list")
            options["image_style_url"] = image
        return options


class MESHY_OT_rig_task(_FollowupOperator):
    """Rig the job's humanoid character: an armature, skin weights, walking and running clips (5 credits)"""

    bl_idname = "meshy.rig_task"
    bl_label = "Rig"
    kind = RIGGING
    fields = ("height_meters",)

    height_meters: FloatProperty(name="Height", default=1.7, min=0.01, soft_max=10.0, unit="LENGTH",
                                 description="The character's height in metres")

    def start(self, context) -> list[str]:
        from . import followup_jobs

        options = followup_jobs.rig_options(self.chosen())
        return [followup_jobs.submit(context, self.kind, self.job_id, options)]


class MESHY_OT_animate_task(_FollowupOperator):
    """Apply an action from Meshy's animation library to the rigged character (3 credits)"""

    bl_idname = "meshy.animate_task"
    bl_label = "Animate"
    kind = ANIMATION
    fields = ("action",)

    action: EnumProperty(name="Action", items=_actions, description="An action of Meshy's animation library")
    action_id: IntProperty(name="Action Id", default=-1, min=-1, description="An action id of the library (any, "
                           "also one not in the list); -1: the action chosen above")

    frame_rate: EnumProperty(name="Frame Rate", description="Meshy's change_fps post-processing: an FBX of the "
                             "clip at this frame rate for game engines, kept beside the model in its library "
                             "folder (animation_fps.fbx). In Blender the clip plays at the scene's rate either "
                             "way. Match Scene: this scene's rate, when Meshy offers it",
                             items=[("AS_IS", "As Meshy Makes It", ""), ("SCENE", "Match Scene", ""),
                                    *[(str(v), f"{v} fps", "") for v in FPS_VALUES]], default="AS_IS")

    def draw(self, context):
        super().draw(context)
        self.layout.prop(self, "action_id")
        self.layout.prop(self, "frame_rate")

    def post_process(self, context) -> dict:
        """operation_type change_fps with its fps when a frame rate is chosen (Meshy takes 24, 25, 30, 60)."""
        from ..meshy.errors import ValidationError

        if self.frame_rate == "AS_IS":
            return {}
        fps = round(context.scene.render.fps / context.scene.render.fps_base) if self.frame_rate == "SCENE" else int(
            self.frame_rate)
        if fps not in FPS_VALUES:
            raise ValidationError("fps", f"the scene runs at {fps} fps; Meshy changes clips to "
                                  f"{', '.join(map(str, FPS_VALUES))} fps only: pick one of those")
        return {"operation_type": "change_fps", "fps": fps}

    def start(self, context) -> list[str]:
        from . import followup_jobs

        action_id = self.action_id if self.action_id >= 0 else int(self.action)
        options = followup_jobs.animate_options(action_id, self.post_process(context))
        return [followup_jobs.submit(context, self.kind, self.job_id, options,
                                     suffix=followup_jobs.action_label(action_id))]


class MESHY_OT_make_lods(_FollowupOperator):
    """Remesh the job's model to several polycounts, landing as LOD0..LODn in one collection (5 credits each)"""

    bl_idname = "meshy.make_lods"
    bl_label = "Make LODs"
    kind = REMESH
    fields = ("polycounts",)

    polycounts: StringProperty(name="Polycounts", default="50000, 10000, 2000",
                               description="Comma-separated target polycounts, highest first")

    def counts(self) -> list[int]:
        from ..meshy.errors import ValidationError

        try:
            return [int(p) for p in self.polycounts.replace(";", ",").split(",") if p.strip()]
        except ValueError:
            raise ValidationError("polycounts", f"{self.polycounts!r}: give whole numbers separated by commas, "
                                  "e.g. 50000, 10000, 2000") from None

    def count(self) -> int:
        try:
            return max(1, len(self.counts()))
        except ReportableError:
            return 1

    def start(self, context) -> list[str]:
        from . import followup_jobs

        return followup_jobs.lods(context, self.job_id, self.counts())


MENU_ENTRIES = ((REMESH, "meshy.remesh_task", "Remesh", "MOD_REMESH"),
                (RETEXTURE, "meshy.retexture_task", "Retexture", "TEXTURE"),
                (RIGGING, "meshy.rig_task", "Rig", "ARMATURE_DATA"),
                (ANIMATION, "meshy.animate_task", "Animate", "ACTION"),
                (REMESH, "meshy.make_lods", "Make LODs", "MOD_DECIM"))


_faces: dict[str, int | None] = {}  # job id -> its model's faces (read once: the menu redraws often)


def _too_many_faces(view) -> int | None:
    """The model's face count when it is over what Meshy rigs, else None."""
    from ..jobs.followup import face_count
    from ..meshy.model_refs import MAX_RIG_FACES

    if view.id not in _faces:
        _faces[view.id] = face_count(view.folder, view.files) if view.files else None
    faces = _faces[view.id]
    return faces if faces is not None and faces > MAX_RIG_FACES else None


def _price(kind: str) -> str:
    """"5 credits": the cost line without its label."""
    from ..jobs.followup import cost_line

    return cost_line(kind).split(": ")[-1]


def draw_menu(layout, view) -> None:
    """The follow-ups of one finished job, each with its cost; those its kind cannot start greyed. A model
    too big to rig offers "remesh it first" in Rig's place."""
    from ..jobs.followup import task_types
    from ..meshy.followups import SOURCE_TYPES
    from ..meshy.model_refs import RIG_REMESH_TARGET

    source_type = task_types(view.kind)[0]
    for kind, idname, label, icon in MENU_ENTRIES:
        row = layout.row()
        row.enabled = source_type in SOURCE_TYPES[kind] or kind == view.kind == ANIMATION  # animate its rig again
        each = " each" if idname == "meshy.make_lods" else ""
        price = _price(kind)
        row.operator_context = "INVOKE_DEFAULT"
        faces = _too_many_faces(view) if kind == RIGGING and row.enabled else None
        if faces is not None:
            row.enabled = False
            row.operator(idname, text=f"Rig: {faces:,} faces is too many, remesh it first", icon=icon).job_id = view.id
            row = layout.row()
            row.operator_context = "INVOKE_DEFAULT"
            op = row.operator("meshy.remesh_task", text=f"Remesh to {RIG_REMESH_TARGET // 1000}k Faces for Rigging "
                              f"({_price(REMESH)})", icon="MOD_REMESH")
            op.job_id, op.target_polycount = view.id, RIG_REMESH_TARGET
            continue
        row.operator(idname, text=f"{label} ({price}{each})", icon=icon).job_id = view.id


def _popup(context, view) -> set[str]:
    """The follow-ups of one source as a popup menu under the pointer."""
    context.window_manager.popup_menu(lambda menu, _context: draw_menu(menu.layout, view), title=view.label,
                                      icon="MODIFIER")
    return {"FINISHED"}


class _TaskSource:
    """A task of Account History standing in for a job in the menu (the operators take its id)."""

    def __init__(self, task_id: str, kind: str):
        self.id, self.kind, self.label, self.folder = task_id, kind, f"Task {task_id[:8]}", ""
        self.files: dict[str, str] = {}


class MESHY_OT_followup_menu(bpy.types.Operator):
    """Remesh, retexture, rig or animate this model"""

    bl_idname = "meshy.followup_menu"
    bl_label = "Follow-ups"
    bl_options = {"INTERNAL"}

    job_id: StringProperty(options={"SKIP_SAVE"})
    task_id: StringProperty(options={"SKIP_SAVE"}, description="A task of Account History (instead of a job)")
    kind: StringProperty(options={"SKIP_SAVE"}, description="That task's kind")

    def invoke(self, context, event):
        view = _TaskSource(self.task_id, self.kind) if self.task_id else runtime.engine(context).get(self.job_id)
        if view is None:
            return {"CANCELLED"}
        return _popup(context, view)

    def execute(self, context):
        return {"CANCELLED"}


class MESHY_OT_asset_followups(bpy.types.Operator):
    """Remesh, retexture, rig or animate the Meshy model of this asset"""

    bl_idname = "meshy.asset_followups"
    bl_label = "Meshy Follow-ups"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        if _asset_job(context) is None:
            cls.poll_message_set("Not a Meshy model of the job list (made by this add-on, in its library)")
            return False
        return True

    def invoke(self, context, event):
        view = _asset_job(context)
        if view is None:
            return {"CANCELLED"}
        return _popup(context, view)

    def execute(self, context):
        return {"CANCELLED"}


def _asset_job(context):
    """The job of the Asset Browser's active asset (None: not one of ours, or no job list yet)."""
    from .rebuild_ops import job_for_asset

    asset = getattr(context, "asset", None)
    eng = runtime.engine_if_started()
    if asset is None or eng is None:
        return None
    view = job_for_asset(eng, asset)
    return view if view is not None and view.state in ("ready", "imported") and view.task_id else None


def _asset_menu(self, context):
    self.layout.separator()
    self.layout.operator_context = "INVOKE_DEFAULT"
    self.layout.operator(MESHY_OT_asset_followups.bl_idname, icon="MODIFIER")


CLASSES = (MESHY_OT_remesh_task, MESHY_OT_retexture_task, MESHY_OT_rig_task, MESHY_OT_animate_task,
           MESHY_OT_make_lods, MESHY_OT_followup_menu, MESHY_OT_asset_followups)

def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    menu = getattr(bpy.types, "ASSETBROWSER_MT_context_menu", None)
    if menu is not None:
        menu.append(_asset_menu)


def unregister() -> None:
    menu = getattr(bpy.types, "ASSETBROWSER_MT_context_menu", None)
    if menu is not None:
        menu.remove(_asset_menu)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
