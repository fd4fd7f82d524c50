"""Panels: the "Meshy" tab in the 3D Viewport and Image Editor sidebars.

draw() only reads cheap state (scene settings, the engine's snapshot, loaded previews); it never
waits, never touches the network and never loads files.
"""

from __future__ import annotations

import os
import time

import bpy

from ..meshy.option_spec import GROUPS
from ..meshy.pricing import estimate_credits
from . import addon, asset_library, properties, pump, rebuild_ops, report, runtime

# Drawn with a progress bar and Stop: jobs.states.ACTIVE but "ready" (spelled out: importing the job
# package here would load the engine at register(); a test checks the two agree).
ACTIVE_STATES = {"preparing", "submitting", "queued", "pending", "in_progress", "succeeded", "downloading",
                 "converting", "importing"}
STATE_ICONS = {
    "ready": "IMPORT",
    "imported": "CHECKMARK",
    "failed": "ERROR",
    "error": "ERROR",
    "expired": "TIME",
    "canceled": "CANCEL",
    "unknown": "QUESTION",
}
MAX_JOBS_SHOWN = 12


def _elapsed(view) -> str:
    end = view.finished or time.time()
    secs = max(0, int(end - (view.created or end)))
    return f"{secs // 60}:{secs % 60:02d}"


def draw_unavailable(layout, context) -> bool:
    reason = addon.unavailable_reason(context)
    if not reason:
        return False
    box = layout.box()
    box.alert = True
    what, _, how = reason.partition(": ")
    box.label(text=what, icon="ERROR")
    if how:
        box.label(text=how)
    if not addon.api_key(context):
        box.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = addon.ADDON_ID
    return True


def draw_last_error(layout):
    message = report.panel_message()
    if not message:
        return
    box = layout.box()
    row = box.row()
    col = row.column(align=True)
    col.alert = True
    for i, line in enumerate(_wrap(message, 44)):
        col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
    row.operator("meshy.dismiss_message", text="", icon="X", emboss=False)


def draw_cost(layout, context):
    s = context.scene.meshy
    row = layout.row(align=True)
    balance = runtime.account["balance"]
    text = f"Cost: {estimate_credits(s.ai_model, s.should_texture)} credits"
    if balance is not None:
        text += f"  ·  Balance: {balance}"
    elif runtime.account["balance_error"]:
        text += "  ·  Balance: ?"
    row.label(text=text, icon="FUND")
    row.operator("meshy.refresh_balance", text="", icon="FILE_REFRESH")
    if runtime.account["balance_error"]:
        layout.label(text=runtime.account["balance_error"], icon="ERROR")


def draw_reference_list(layout, context):
    from .images import InputError, reference_images

    try:
        refs = reference_images(context)
    except InputError as exc:
        layout.label(text=exc.user_message, icon="INFO")
        return 0
    col = layout.column(align=True)
    for i, (obj, image) in enumerate(refs, 1):
        text = f"{i}. {image.name}" + ("  (active)" if obj == context.active_object else "")
        col.label(text=text, icon_value=layout.icon(image))
    kind = "Image to 3D" if len(refs) == 1 else "Multi-Image to 3D"
    layout.label(text=f"{len(refs)} image(s) -> {kind}", icon="INFO")
    return len(refs)


def missing_image(context) -> str:
    """Why the panel's Generate button is greyed ("" when it has an image to send).

    poll() cannot decide this: a custom button, pie menu or script may give the operator a
    filepath, image_name or input_task_id instead, so the panel checks its own button.
    """
    from .operators import context_image

    if context_image(context) is not None:
        return ""
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "IMAGE_EDITOR":
        return "No image: open one here (Image > Open)"
    return "No image: pick or open one above"


def draw_generate(layout, idname: str, missing: str) -> None:
    """The panel's Generate button, greyed with the reason below it while the input is missing."""
    row = layout.row()
    row.enabled = not missing
    row.operator(idname, icon="MESH_MONKEY")
    col = layout.column(align=True)
    for i, line in enumerate(_wrap(missing, 40)):
        col.label(text=line, icon="INFO" if i == 0 else "BLANK1")


def draw_image_preview(layout, image):
    if image is None:
        return
    layout.template_icon(icon_value=layout.icon(image), scale=6.0)  # layout.icon makes the preview if needed
    w, h = image.size
    layout.label(text=f"{image.name}: {w} x {h}" if w else image.name, icon="IMAGE_DATA")


def draw_jobs(layout, context):
    asset_library.draw(layout, context)  # every model of the library in the Asset Browser: one click
    eng = runtime.engine_if_started()
    views = eng.jobs() if eng else []
    if not views:
        layout.label(text="No jobs yet", icon="INFO")
        return
    pcoll = runtime.previews() if runtime.has_previews() else None
    for view in views[:MAX_JOBS_SHOWN]:
        box = layout.box()
        row = box.row(align=True)
        if pcoll is not None and view.id in pcoll:
            row.label(text=view.label, icon_value=pcoll[view.id].icon_id)
        else:
            row.label(text=view.label, icon=STATE_ICONS.get(view.state, "SORTTIME"))
        row.label(text=_elapsed(view))
        if view.state in ACTIVE_STATES:
            box.progress(factor=max(0.0, min(1.0, view.progress)), type="BAR", text=view.phase)
        else:
            status, message = job_status(view)
            sub = box.row()
            sub.alert = view.state in {"failed", "error", "expired", "unknown"}
            sub.label(text=status)
            if view.state == "ready" and view.blend_file and not pump.belongs_here(view):
                box.label(text=f"Imports when {os.path.basename(view.blend_file)} is open", icon="FILE_BLEND")
            if message:
                err = box.column(align=True)
                err.alert = True
                for line in message:
                    err.label(text=line)
        _draw_job_buttons(box.row(align=True), view)
    if len(views) > MAX_JOBS_SHOWN:
        layout.label(text=f"... and {len(views) - MAX_JOBS_SHOWN} older jobs")


def job_status(view) -> tuple[str, list[str]]:
    """A finished job's status line and its message lines, Meshy's message shown once and in full.

    The engine's phase often repeats the message ("Failed: <message>"); the status line keeps only
    the part before it, the message is wrapped below.
    """
    status = view.phase or str(view.state)
    error = view.error or ""
    if error and error in status:
        status = status.replace(error, "").strip(" :—-") or str(view.state).title()
    return status, _wrap(error, 42)


def _draw_job_buttons(row, view):
    if view.state in {"ready", "imported"} or (view.state == "error" and view.files.get("model")):
        row.operator("meshy.import_task", text="Import" if view.state == "ready" else "Import Again",
                     icon="IMPORT").job_id = view.id
    if view.state in {"error", "expired"} and view.task_id and not view.files.get("model"):
        row.operator("meshy.retry_download", text="Retry", icon="FILE_REFRESH").job_id = view.id
    if view.state in {"unknown", "failed", "error"} and (view.input_names or view.lineage):  # lineage: follow-ups
        row.operator("meshy.resubmit", text="Submit Again", icon="RECOVER_LAST").job_id = view.id
    if view.state in ACTIVE_STATES:
        row.operator("meshy.cancel_task", text="Stop", icon="CANCEL").job_id = view.id
    rebuild_ops.draw_job_asset(row, view)
    if view.state in {"ready", "imported"} and view.task_id:  # follow-ups (followup_ops.py)
        row.operator("meshy.followup_menu", text="", icon="MODIFIER").job_id = view.id
    if view.folder:
        row.operator("meshy.open_folder", text="", icon="FILE_FOLDER").job_id = view.id
    if view.task_id:
        row.operator("meshy.delete_task", text="", icon="TRASH").job_id = view.id
    if view.state not in ACTIVE_STATES:
        row.operator("meshy.remove_job", text="", icon="X").job_id = view.id


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def draw_options(layout, s, group: str):
    """One group of Meshy options, in options.py's order; an option that does not apply is greyed."""
    col = layout.column()
    col.use_property_split = True
    col.use_property_decorate = False
    reasons = properties.inactive_reasons(s, multi=s.source != "IMAGE")
    for spec in properties.OPTIONS:
        if spec.group != group:
            continue
        name = properties.setting_name(spec)
        row = col.row()
        row.enabled = not reasons[name]
        row.prop(s, name)
        if spec.max_length:
            sub = col.row()
            sub.enabled = row.enabled
            sub.label(text=f"{len(getattr(s, name))}/{spec.max_length} characters")


def draw_history(layout, context):
    acc = runtime.account
    row = layout.row()
    row.operator("meshy.refresh_history", text="Refresh" if acc["history"] is not None else "Load History",
                 icon="FILE_REFRESH")
    eng = runtime.engine_if_started()
    if eng is not None and eng.looking_up("history"):
        layout.label(text="Loading...", icon="SORTTIME")
    if acc["history_error"]:
        layout.label(text=acc["history_error"], icon="ERROR")
    for kind, task in (acc["history"] or [])[:20]:
        row = layout.row(align=True)
        when = time.strftime("%m-%d %H:%M", time.localtime((task.created_at or 0) / 1000))
        row.label(text=f"{when}  {task.status.title()}", icon="MESH_MONKEY" if task.status == "SUCCEEDED" else "DOT")
        expired = bool(task.expires_at) and task.expires_at / 1000 < time.time()
        sub = row.row(align=True)
        sub.enabled = task.status == "SUCCEEDED" and not expired
        op = sub.operator("meshy.import_history", text="Import" if not expired else "Expired", icon="IMPORT")
        op.task_id, op.kind = task.id, kind
        fu = sub.operator("meshy.followup_menu", text="", icon="MODIFIER")  # follow-ups (followup_ops.py)
        fu.task_id, fu.kind = task.id, kind


# ---- panels -------------------------------------------------------------------------------------

class _MeshyPanel:
    bl_region_type = "UI"
    bl_category = "Meshy"


class MESHY_PT_main(_MeshyPanel, bpy.types.Panel):  # type: ignore[misc]  # the stub types bl_region_type as an enum
    bl_idname = "MESHY_PT_main"
    bl_label = "Meshy: Photo to 3D"
    bl_space_type = "VIEW_3D"

    def draw(self, context):
        layout = self.layout
        s = context.scene.meshy
        draw_unavailable(layout, context)
        draw_last_error(layout)
        layout.row().prop(s, "source", expand=True)
        if s.source == "IMAGE":
            layout.template_ID(s, "image", open="image.open")
            draw_image_preview(layout, s.image)
            draw_generate(layout, "meshy.image_to_3d", missing_image(context))
        else:
            count = draw_reference_list(layout, context)
            row = layout.row()
            row.enabled = count > 0
            row.operator("meshy.multi_image_to_3d", icon="MESH_MONKEY")
        draw_cost(layout, context)


class MESHY_PT_image_editor(_MeshyPanel, bpy.types.Panel):  # type: ignore[misc]  # the stub types bl_region_type as an enum
    bl_idname = "MESHY_PT_image_editor"
    bl_label = "Meshy: Photo to 3D"
    bl_space_type = "IMAGE_EDITOR"

    def draw(self, context):
        layout = self.layout
        draw_unavailable(layout, context)
        draw_last_error(layout)
        from .operators import context_image

        draw_image_preview(layout, context_image(context))  # what the button sends
        draw_generate(layout, "meshy.image_to_3d", missing_image(context))
        draw_cost(layout, context)


def _child(space: str, parent: str, idname: str, label: str, draw, closed=True):
    """A sub-panel of the Meshy tab, for one space (the same drawing in both sidebars)."""
    return type(
        idname,
        (_MeshyPanel, bpy.types.Panel),
        {
            "bl_idname": idname,
            "bl_label": label,
            "bl_space_type": space,
            "bl_parent_id": parent,
            "bl_options": {"DEFAULT_CLOSED"} if closed else set(),
            "draw": lambda self, context: draw(self.layout, context),
        },
    )


def _option_drawer(group):
    return lambda layout, context: draw_options(layout, context.scene.meshy, group)


def _panels():
    out = [MESHY_PT_main, MESHY_PT_image_editor]
    for space, parent, prefix in (
        ("VIEW_3D", "MESHY_PT_main", "MESHY_PT_v3d"),
        ("IMAGE_EDITOR", "MESHY_PT_image_editor", "MESHY_PT_ima"),
    ):
        out += [_child(space, parent, f"{prefix}_{key}", title, _option_drawer(key)) for key, title in GROUPS.items()]
        out += [
            _child(space, parent, f"{prefix}_jobs", "Jobs", draw_jobs, closed=False),
            _child(space, parent, f"{prefix}_history", "Account History", draw_history),
            _child(space, parent, f"{prefix}_library", "Model Library", rebuild_ops.draw_rebuild, closed=False),
        ]
    return tuple(out)


CLASSES = _panels()


register, unregister = bpy.utils.register_classes_factory(CLASSES)  # type: ignore[misc]  # stub says None
