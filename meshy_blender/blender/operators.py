"""Operators (meshy.*): check the input, prepare the upload, hand the job to the engine.

Every operator works from the panel and from the Python console with properties; unset option
properties fall back to the scene's panel settings. None of them waits on the network.
"""

from __future__ import annotations

import os
import types

import bpy
from bpy.props import IntProperty, StringProperty

from . import addon, properties, pump, runtime

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


def _message(exc) -> str:
    return getattr(exc, "user_message", None) or getattr(exc, "message", None) or str(exc)


def fail(op, message: str) -> set:
    """Report a problem in the status bar and keep it in the panel until dismissed."""
    runtime.account["last_error"] = message
    op.report({"ERROR"}, f"Meshy: {message}")
    return {"CANCELLED"}


def _submit(op, context, kind, prepared, *, input_task_id=None, label=""):
    """Build the job spec, submit it, start the pump, report. Returns the operator result."""
    from ..jobs import JobSpec, UploadImage
    from ..meshy.errors import MeshyError

    opts = properties.to_options(_merged_settings(op, context), multi=kind == MULTI_IMAGE_TO_3D)
    opts.update(_explicit_extras(op, opts))
    target = {
        "scene": context.scene.name,
        "collection": context.collection.name if context.collection else "",
        "session": runtime.session_token(),
        "at_cursor": True,
    }
    spec = JobSpec(
        kind=kind,
        images=[UploadImage(p.name, p.mime, p.data) for p in prepared],
        input_task_id=input_task_id,
        options=opts,
        label=label or (prepared[0].name if prepared else input_task_id or "Meshy model"),
        blend_file=bpy.data.filepath,
        target=target,
    )
    try:
        job_id = runtime.engine(context).submit(spec)
    except MeshyError as exc:
        return fail(op, _message(exc))
    except OSError as exc:  # the journal or library folder cannot be written
        return fail(op, f"Cannot write the job record ({exc.strerror or exc}): check the library folder "
                        "in the add-on preferences and free disk space")
    runtime.account["last_error"] = ""
    op.job_id = job_id
    pump.ensure_running(context)
    notes = "; ".join(p.note for p in prepared if p.note)
    credits = properties.credits_for(_merged_settings(op, context))
    op.report({"INFO"}, f"Meshy: submitted {spec.label} (~{credits} credits){'; ' + notes if notes else ''}")
    return {"FINISHED"}


def _explicit_extras(op, opts: dict) -> dict:
    """Texture / Meshy 6 options given explicitly to the operator (console, scripts) that to_options
    leaves out because they do not apply (HD texture on meshy-5, PBR without texturing): they go to
    validation, so the caller gets a message saying why instead of silently getting something else."""
    extras = {}
    for name in (*properties.TEXTURE_ONLY, *properties.MESHY6_ONLY):
        if name in opts or name not in properties.DEFAULTS or not op.properties.is_property_set(name):
            continue
        value = getattr(op, name)
        if value != properties.DEFAULTS[name] and (value is True or (isinstance(value, str) and value)):
            extras[name] = value  # asks for something (turning a feature off that does not apply is fine)
    return extras


def _merged_settings(op, context):
    scene = context.scene.meshy
    values = {}
    for name in properties.OPTION_NAMES:
        if op.properties.is_property_set(name):
            values[name] = getattr(op, name)
        else:
            values[name] = getattr(scene, name)
    return types.SimpleNamespace(**values)


# From scripts, out-of-range values must get Meshy's validation message, not a silent clamp or cut:
# the operators' copies of these options have soft limits only (the panel keeps the hard ones).
_SCRIPT_FRIENDLY = {
    "target_polycount": IntProperty(
        name="Polycount", default=30000, soft_min=100, soft_max=300000, description="Target polygons (100 to 300,000)"
    ),
    "texture_prompt": StringProperty(
        name="Texture Prompt", default="", description="Text to guide texturing (600 characters at most)"
    ),
}


def _with_options(cls):
    """Give an operator every Meshy option as a property (same definitions as the panel's settings)."""
    annotations = dict(getattr(cls, "__annotations__", {}))
    for name in properties.OPTION_NAMES:
        annotations[name] = _SCRIPT_FRIENDLY.get(name) or properties.MeshySettings.__annotations__[name]
    cls.__annotations__ = annotations
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

    @classmethod
    def poll(cls, context):
        if not _poll_online(cls, context):
            return False
        area = getattr(context, "area", None)
        if area is not None and area.type in {"VIEW_3D", "IMAGE_EDITOR"} and context_image(context) is None:
            cls.poll_message_set("No image: open one in the Image Editor or pick one in the Meshy panel")
            return False
        return True

    def execute(self, context):
        from .images import InputError, prepare_file, prepare_image

        if self.input_task_id:
            return _submit(self, context, IMAGE_TO_3D, [], input_task_id=self.input_task_id.strip())
        max_size = addon.prefs(context).max_image_size if addon.prefs(context) else 4096
        try:
            if self.filepath:
                prepared = prepare_file(bpy.path.abspath(self.filepath), max_size)
            else:
                image = bpy.data.images.get(self.image_name) if self.image_name else context_image(context)
                if image is None:
                    what = f"There is no image named '{self.image_name}'" if self.image_name else "No image"
                    raise InputError(f"{what}: open one in the Image Editor or pick one in the Meshy panel")
                prepared = prepare_image(image, max_size)
        except InputError as exc:
            return fail(self, exc.message)
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
    def poll(cls, context):
        if not _poll_online(cls, context):
            return False
        area = getattr(context, "area", None)
        if area is not None and area.type == "VIEW_3D":
            from .images import InputError, reference_images

            try:
                reference_images(context)
            except InputError as exc:
                cls.poll_message_set(exc.message)
                return False
        return True

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
            return fail(self, exc.message)
        kind = IMAGE_TO_3D if len(prepared) == 1 else MULTI_IMAGE_TO_3D
        return _submit(self, context, kind, prepared)


class _JobOperator:
    job_id: StringProperty(name="Job", options={"SKIP_SAVE"})

    def view(self, context):
        eng = runtime.engine_if_started()
        view = eng.get(self.job_id) if eng else None
        if view is None:
            self.report({"ERROR"}, f"Meshy: no job '{self.job_id}' in the list")
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
        runtime.account["last_error"] = ""
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
            self.report({"ERROR"}, "Meshy: this job has no downloaded model yet")
            return {"CANCELLED"}
        objects = pump.import_job(context, view, force=True)
        while pump.reports:
            level, text = pump.reports.pop(0)
            self.report({level}, text)
        return {"FINISHED"} if objects else {"CANCELLED"}


class MESHY_OT_cancel_task(_JobOperator, bpy.types.Operator):
    """Stop following this job here (the task keeps running on Meshy and can be imported from history)"""

    bl_idname = "meshy.cancel_task"
    bl_label = "Stop Following"

    def execute(self, context):
        if self.view(context) is None:
            return {"CANCELLED"}
        runtime.engine(context).cancel(self.job_id)
        self.report({"INFO"}, "Meshy: stopped following the job")
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
            self.report({"ERROR"}, "Meshy: this job has no task on Meshy's server")
            return {"CANCELLED"}
        runtime.engine(context).delete_remote(self.job_id)
        pump.ensure_running(context)
        self.report({"INFO"}, f"Meshy: deleting {view.label} on Meshy's server")
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
        from ..meshy.errors import MeshyError

        if self.view(context) is None:
            return {"CANCELLED"}
        try:
            runtime.engine(context).resubmit(self.job_id)
        except (MeshyError, ValueError) as exc:
            return fail(self, _message(exc))
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
        runtime.engine(context).retry_download(self.job_id)
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


def _redraw_until_idle():
    """Timer: redraw the panels until the account look-ups have answered (never waits)."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "IMAGE_EDITOR"}:
                area.tag_redraw()
    return 0.25 if runtime.account["busy"] else None


def _watch_account():
    if not bpy.app.background and not bpy.app.timers.is_registered(_redraw_until_idle):
        bpy.app.timers.register(_redraw_until_idle, first_interval=0.25)


def _fetch_balance():
    return runtime.settings.client().balance()


def _fetch_history():
    client = runtime.settings.client()
    tasks = []
    for kind in (IMAGE_TO_3D, MULTI_IMAGE_TO_3D):
        tasks += [(kind, t) for t in client.list_tasks(kind, page_size=20, sort_by="-created_at")]
    tasks.sort(key=lambda kt: kt[1].created_at or 0, reverse=True)
    return tasks


class _AccountLookup:
    """Ask Meshy for something about the account on a worker thread; the panel shows it when it arrives."""

    field = ""  # runtime.account[field] gets the result, [field + "_error"] the message
    fetch = staticmethod(lambda: None)

    @classmethod
    def poll(cls, context):
        return _poll_online(cls, context)

    def execute(self, context):
        runtime.settings.refresh(context)
        field = self.field

        def done(result, error):
            runtime.account.update({field: result, field + "_error": error or ""})

        runtime.in_background(field, type(self).fetch, done)
        _watch_account()
        return {"FINISHED"}


class MESHY_OT_refresh_balance(_AccountLookup, bpy.types.Operator):
    """Ask Meshy for the account's credit balance"""

    bl_idname = "meshy.refresh_balance"
    bl_label = "Refresh Balance"
    field = "balance"
    fetch = staticmethod(_fetch_balance)


class MESHY_OT_refresh_history(_AccountLookup, bpy.types.Operator):
    """List the tasks already on your Meshy account (newest first)"""

    bl_idname = "meshy.refresh_history"
    bl_label = "Refresh Account History"
    field = "history"
    fetch = staticmethod(_fetch_history)


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
        from ..meshy.errors import MeshyError

        target = {"scene": context.scene.name, "collection": context.collection.name if context.collection else "",
                  "session": runtime.session_token(), "at_cursor": True}
        try:  # the id and label come from the server's task list: checked, never used as paths
            runtime.engine(context).follow(
                self.kind, self.task_id, label=self.label or f"Meshy {self.task_id[:8]}",
                blend_file=bpy.data.filepath, target=target,
            )
        except (MeshyError, ValueError) as exc:
            return fail(self, f"Cannot import this task from your account: {_message(exc)}")
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
    if bpy.app.timers.is_registered(_redraw_until_idle):
        bpy.app.timers.unregister(_redraw_until_idle)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
