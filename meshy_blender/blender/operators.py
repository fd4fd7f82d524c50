"""Operators (meshy.*): check the input, prepare the upload, hand the job to the engine.

Every operator works from the panel and from the Python console with properties; unset option
properties fall back to the scene's panel settings. None of them waits on the network. Every
message to the user goes through report.tell() (``fail`` for a problem that stops the operator).
"""

from __future__ import annotations

import os
import types

import bpy
from bpy.props import StringProperty

from ..meshy.errors import ReportableError
from . import addon, properties, pump, report, runtime

IMAGE_TO_3D = "image-to-3d"
MULTI_IMAGE_TO_3D = "multi-image-to-3d"


def _poll_online(cls, context) -> bool:
    reason = addon.unavailable_reason(context)
    if reason:
        cls.poll_message_set(reason)
        return False
    return True


def context_image(context):
    """The image the panel would send: the Image Editor's image, else the one picked in the 3D Viewport."""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR" and space.image is not None:
        return space.image
    return context.scene.meshy.image if context.scene else None


NO_IMAGE = ("No image: open one in the Image Editor, pick one in the Meshy panel, "
            "or give the operator a filepath, image_name or input_task_id")


def _missing_image(image_name: str = "") -> str:
    if image_name:
        return (f"There is no image named '{image_name}' in this file: check the name "
                "(bpy.data.images) or pick one in the Meshy panel")
    return NO_IMAGE


def fail(op, message: str) -> set:
    """Report a problem in the status bar and keep it in the panel until dismissed."""
    report.tell("ERROR", message, op=op, panel=True)
    return {"CANCELLED"}


def job_target(context, **extra) -> dict:
    """Where a job's model lands: this scene and collection, this file (its session while unsaved),
    at the 3D cursor or at the world origin as the "Import at 3D Cursor" preference says now, and the
    scene's frame rate."""
    p = addon.prefs(context)
    return {
        "scene": context.scene.name,
        "collection": context.collection.name if context.collection else "",
        "session": runtime.session_token(),
        "at_cursor": bool(p.import_at_cursor) if p else True,
        "fps": [context.scene.render.fps, context.scene.render.fps_base],  # a rig's clips are keyed at it
        **extra,
    }


def _submit(op, context, kind, prepared, *, input_task_id=None, label=""):
    """Build the job spec, submit it, start the pump, report. Returns the operator result."""
    from ..jobs import JobSpec
    from ..meshy.pricing import estimate_credits

    explicit = [name for name in properties.OPTION_NAMES if op.properties.is_property_set(name)]
    opts = properties.to_options(_merged_settings(op, context), multi=kind == MULTI_IMAGE_TO_3D, explicit=explicit)
    target = job_target(context)
    spec = JobSpec(
        kind=kind,
        images=[p.upload() for p in prepared],  # converted images are encoded on a worker
        input_task_id=input_task_id,
        options=opts,
        label=label or (prepared[0].name if prepared else input_task_id or "Meshy model"),
        blend_file=bpy.data.filepath,
        target=target,
    )
    try:
        job_id = runtime.engine(context).submit(spec)
    except ReportableError as exc:
        return fail(op, exc.user_message)
    except OSError as exc:  # the journal or library folder cannot be written
        return fail(op, f"Cannot write the job record ({exc.strerror or exc}): check the library folder "
                        "in the add-on preferences and free disk space")
    report.dismiss()
    op.job_id = job_id
    pump.ensure_running(context)
    notes = "; ".join(p.note for p in prepared if p.note)
    credits = estimate_credits(opts.get("ai_model"), opts.get("should_texture"))
    report.tell("INFO", f"submitted {spec.label} (~{credits} credits){'; ' + notes if notes else ''}", op=op)
    return {"FINISHED"}


def _merged_settings(op, context):
    scene = context.scene.meshy
    values = {}
    for name in properties.OPTION_NAMES:
        if op.properties.is_property_set(name):
            values[name] = getattr(op, name)
        else:
            values[name] = getattr(scene, name)
    return types.SimpleNamespace(**values)


def _with_options(cls):
    """Give an operator every Meshy option as a property (the panel's definitions, soft limits for scripts)."""
    cls.__annotations__ = {**getattr(cls, "__annotations__", {}), **properties.operator_properties()}
    return cls


@_with_options
class MESHY_OT_image_to_3d(bpy.types.Operator):
    """Turn the image into a textured 3D model with Meshy (Image to 3D)"""

    bl_idname = "meshy.image_to_3d"
    bl_label = "Generate 3D Model"
    bl_options = {"REGISTER"}

    filepath: StringProperty(
        name="File", subtype="FILE_PATH", description="An image file to send", options={"SKIP_SAVE"}
    )
    image_name: StringProperty(name="Image", description="Name of a Blender image to send", options={"SKIP_SAVE"})
    input_task_id: StringProperty(
        name="Input Task", description="A finished Meshy Text/Image to Image task to build from", options={"SKIP_SAVE"}
    )
    job_id: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    # poll() sees the context, never the operator's properties: a button, pie menu or script that
    # passes filepath / image_name / input_task_id must not be refused for want of a context image.
    # The panel greys its own button (ui.missing_image); execute() says what is missing.
    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def execute(self, context):
        from .images import InputError, prepare_file, prepare_image

        if self.input_task_id.strip():
            return _submit(self, context, IMAGE_TO_3D, [], input_task_id=self.input_task_id.strip())
        max_size = addon.prefs(context).max_image_size if addon.prefs(context) else 4096
        try:
            if self.filepath:
                prepared = prepare_file(bpy.path.abspath(self.filepath), max_size)
            else:
                image = bpy.data.images.get(self.image_name) if self.image_name else context_image(context)
                if image is None:
                    raise InputError(_missing_image(self.image_name))
                prepared = prepare_image(image, max_size)
        except InputError as exc:
            return fail(self, exc.user_message)
        return _submit(self, context, IMAGE_TO_3D, [prepared])


@_with_options
class MESHY_OT_multi_image_to_3d(bpy.types.Operator):
    """Turn 1-4 photos of one object into a 3D model (the selected reference images, active first)"""

    bl_idname = "meshy.multi_image_to_3d"
    bl_label = "Generate from References"
    bl_options = {"REGISTER"}

    filepaths: StringProperty(
        name="Files", description="Image files separated by ';' (instead of the selected references)",
        options={"SKIP_SAVE"},
    )
    job_id: StringProperty(options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):  # as for image_to_3d: `filepaths` may stand in for the selection
        return _poll_online(cls, context)

    def execute(self, context):
        from .images import InputError, prepare_file, prepare_image, reference_images

        max_size = addon.prefs(context).max_image_size if addon.prefs(context) else 4096
        try:
            if self.filepaths.strip():
                paths = [p.strip() for p in self.filepaths.split(";") if p.strip()]
                if not 1 <= len(paths) <= 4:
                    raise InputError(f"{len(paths)} files given: Meshy takes 1 to 4 images of one object")
                prepared = [prepare_file(bpy.path.abspath(p), max_size) for p in paths]
            else:
                prepared = [prepare_image(img, max_size) for _obj, img in reference_images(context)]
        except InputError as exc:
            return fail(self, exc.user_message)
        kind = IMAGE_TO_3D if len(prepared) == 1 else MULTI_IMAGE_TO_3D
        return _submit(self, context, kind, prepared)


class _JobOperator:
    job_id: StringProperty(name="Job", options={"SKIP_SAVE"})

    def view(self, context):
        eng = runtime.engine_if_started()
        view = eng.get(self.job_id) if eng else None
        if view is None:
            report.tell("ERROR", f"no job '{self.job_id}' in the list", op=self)
        return view


class _ConfirmOnline:
    """Needs the network and asks first: for actions that delete or cost credits."""

    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)


class MESHY_OT_dismiss_message(bpy.types.Operator):
    """Hide this message"""

    bl_idname = "meshy.dismiss_message"
    bl_label = "Dismiss"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        report.dismiss()
        return {"FINISHED"}


class MESHY_OT_import_task(_JobOperator, bpy.types.Operator):
    """Import this job's model (again) into the current scene"""

    bl_idname = "meshy.import_task"
    bl_label = "Import"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        view = self.view(context)
        if view is None:
            return {"CANCELLED"}
        if not view.files.get("model"):
            report.tell("ERROR", "this job has no downloaded model yet", op=self)
            return {"CANCELLED"}
        before = len(report.reports)
        objects = pump.import_job(context, view, force=True)
        report.show(self, since=before)
        return {"FINISHED"} if objects else {"CANCELLED"}


class MESHY_OT_cancel_task(_JobOperator, bpy.types.Operator):
    """Stop following this job here (the task keeps running on Meshy and can be imported from history)"""

    bl_idname = "meshy.cancel_task"
    bl_label = "Stop Following"

    def execute(self, context):
        if self.view(context) is None:
            return {"CANCELLED"}
        runtime.engine(context).cancel(self.job_id)
        report.tell("INFO", "stopped following the job", op=self)
        return {"FINISHED"}


class MESHY_OT_delete_task(_ConfirmOnline, _JobOperator, bpy.types.Operator):
    """Delete this task and its models on Meshy's server (cannot be undone)"""

    bl_idname = "meshy.delete_task"
    bl_label = "Delete on Meshy"

    def execute(self, context):
        view = self.view(context)
        if view is None:
            return {"CANCELLED"}
        if not view.task_id:
            report.tell("ERROR", "this job has no task on Meshy's server", op=self)
            return {"CANCELLED"}
        try:
            runtime.engine(context).delete_remote(self.job_id)
        except ReportableError as exc:
            return fail(self, exc.user_message)
        pump.ensure_running(context)
        report.tell("INFO", f"deleting {view.label} on Meshy's server", op=self)
        return {"FINISHED"}


class MESHY_OT_remove_job(_JobOperator, bpy.types.Operator):
    """Remove this job from the list (downloaded files stay in the library folder)"""

    bl_idname = "meshy.remove_job"
    bl_label = "Remove from List"

    def execute(self, context):
        if self.view(context) is None:
            return {"CANCELLED"}
        runtime.engine(context).remove(self.job_id)
        return {"FINISHED"}


class MESHY_OT_resubmit(_ConfirmOnline, _JobOperator, bpy.types.Operator):
    """Submit this job again on purpose (a new task: it costs credits again)"""

    bl_idname = "meshy.resubmit"
    bl_label = "Submit Again"


    def execute(self, context):
        if self.view(context) is None:
            return {"CANCELLED"}
        try:
            runtime.engine(context).resubmit(self.job_id)
        except ReportableError as exc:
            return fail(self, exc.user_message)
        pump.ensure_running(context)
        return {"FINISHED"}


class MESHY_OT_retry_download(_JobOperator, bpy.types.Operator):
    """Download this job's model again"""

    bl_idname = "meshy.retry_download"
    bl_label = "Retry Download"

    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def execute(self, context):
        if self.view(context) is None:
            return {"CANCELLED"}
        try:
            runtime.engine(context).retry_download(self.job_id)
        except ReportableError as exc:
            return fail(self, exc.user_message)
        pump.ensure_running(context)
        return {"FINISHED"}


class MESHY_OT_open_folder(_JobOperator, bpy.types.Operator):
    """Open this job's folder of the model library in the system's file browser"""

    bl_idname = "meshy.open_folder"
    bl_label = "Open Folder"

    def execute(self, context):
        view = self.view(context)
        if view is None:
            return {"CANCELLED"}
        folder = view.folder
        if not folder or not os.path.isdir(folder):  # never hand a file to the OS: it would run its app
            return fail(self, f"The folder of {view.label} is not there ({folder or 'none yet'}): the job makes it "
                              "when it saves its inputs; if you moved or deleted it, Submit Again makes a new one")
        # Blender's own operator knows each platform: Explorer (os.startfile), Finder (`open`), xdg-open.
        return bpy.ops.wm.path_open(filepath=folder)


class _AccountLookup:
    """Ask Meshy about the account on the engine's I/O thread; the pump applies the answer to
    runtime.account (drawn by the panel) and tells a failure like any other problem."""

    what = ""  # an account look-up the engine knows: balance | history

    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def execute(self, context):
        runtime.settings.refresh(context)
        runtime.engine(context).look_up(self.what)
        pump.ensure_running(context)
        return {"FINISHED"}


class MESHY_OT_refresh_balance(_AccountLookup, bpy.types.Operator):
    """Ask Meshy for the account's credit balance"""

    bl_idname = "meshy.refresh_balance"
    bl_label = "Refresh Balance"
    what = "balance"


class MESHY_OT_refresh_history(_AccountLookup, bpy.types.Operator):
    """List the tasks already on your Meshy account (newest first)"""

    bl_idname = "meshy.refresh_history"
    bl_label = "Refresh Account History"
    what = "history"


class MESHY_OT_import_history(bpy.types.Operator):
    """Download and import this task from your Meshy account"""

    bl_idname = "meshy.import_history"
    bl_label = "Import from Account"

    task_id: StringProperty(options={"SKIP_SAVE"})
    kind: StringProperty(default=IMAGE_TO_3D, options={"SKIP_SAVE"})
    label: StringProperty(default="", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def execute(self, context):
        target = job_target(context)
        try:  # the id and label come from the server's task list: checked, never used as paths
            runtime.engine(context).follow(
                self.kind, self.task_id, label=self.label or f"Meshy {self.task_id[:8]}",
                blend_file=bpy.data.filepath, target=target,
            )
        except ReportableError as exc:
            return fail(self, f"Cannot import this task from your account: {exc.user_message}")
        pump.ensure_running(context)
        return {"FINISHED"}


CLASSES = (
    MESHY_OT_dismiss_message,
    MESHY_OT_image_to_3d,
    MESHY_OT_multi_image_to_3d,
    MESHY_OT_import_task,
    MESHY_OT_cancel_task,
    MESHY_OT_delete_task,
    MESHY_OT_remove_job,
    MESHY_OT_resubmit,
    MESHY_OT_retry_download,
    MESHY_OT_open_folder,
    MESHY_OT_refresh_balance,
    MESHY_OT_refresh_history,
    MESHY_OT_import_history,
)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
