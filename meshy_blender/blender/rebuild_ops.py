"""Rebuild Library and the asset look-ups, on Blender's side: operators, the panel's section, first use.

The conversions themselves run in the engine (jobs/rebuild.py) on its conversion threads; here the
main thread only starts a run, draws its snapshot (no disk in draw) and, while a run goes, redraws
the Meshy panels twice a second from a timer (the modal pump runs only while jobs are active).
First use: `start_automatic` (called by the startup / File > Open timer and `api.resume()`) starts
one automatic run per session when there is a library to look at.
"""

from __future__ import annotations

import os
import textwrap

import bpy
from bpy.props import StringProperty

from . import report, runtime

REDRAW_INTERVAL = 0.5
MAX_FAILURES_SHOWN = 5
# The regions that show the rebuild: the sidebars, and the preferences' own region. Never a 3D
# Viewport's main region: redrawing a heavy scene (software OpenGL) twice a second stalls Blender.
_REDRAW_REGIONS = {("VIEW_3D", "UI"), ("IMAGE_EDITOR", "UI"), ("PREFERENCES", "WINDOW")}


# ---------------------------------------------------------------------------------------- starting runs


def rebuild(context, *, automatic: bool = False):
    """Start (or return the running) library rebuild of the engine; the panels follow its progress."""
    run = runtime.engine(context).rebuild_library(automatic=automatic)
    _follow()
    return run


def start_automatic(context) -> None:
    """First use in a session: convert what version 0.1 left as model.glb only, in the background."""
    eng = runtime.engine_if_started()
    if eng is None:
        if not _library_has_folders(context):
            return
        eng = runtime.engine(context)
    if eng.rebuild_status() is None:
        rebuild(context, automatic=True)


def _library_has_folders(context) -> bool:
    """One directory listing (no stat, no parsing): is there a library that may need converting?"""
    try:
        with os.scandir(runtime.library_dir(context)) as entries:
            return any(entry.is_dir() for entry in entries)
    except OSError:
        return False


def _follow() -> None:
    if not bpy.app.background and not bpy.app.timers.is_registered(_redraw):
        bpy.app.timers.register(_redraw, first_interval=REDRAW_INTERVAL)


def _redraw():
    """Timer: redraw the panels that show the rebuild until it is over (then once more, and stop)."""
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            for region in area.regions:
                if (area.type, region.type) in _REDRAW_REGIONS:
                    region.tag_redraw()
    eng = runtime.engine_if_started()
    run = eng.rebuild_status() if eng else None
    return None if run is None or run.done else REDRAW_INTERVAL


# ---------------------------------------------------------------------------------------- asset look-ups


def asset_for(view) -> tuple[str, str] | None:
    """(model.blend path, asset name) of a job, None while it has no complete model.blend."""
    from ..jobs.rebuild import asset_of_folder

    return asset_of_folder(view.folder) if view is not None and view.folder else None


def job_for_asset(eng, asset, name: str = ""):
    """The job (a JobView) an asset came from: an appended or linked collection / object (its
    meshy_job_id tag, else its library file), an Asset Browser entry, or a path (model.blend or its
    folder) with an optional asset name. None when no job in the list made it."""
    from ..jobs.rebuild import asset_of_folder, folder_of_asset_path, same_folder

    if isinstance(asset, bpy.types.ID):
        job_id = asset.get("meshy_job_id")
        if job_id and eng.get(job_id) is not None:
            return eng.get(job_id)
        if asset.library is None:
            return None
        asset, name = bpy.path.abspath(asset.library.filepath), name or asset.name
    elif hasattr(asset, "full_library_path"):  # bpy.types.AssetRepresentation (Asset Browser)
        asset, name = asset.full_library_path, name or asset.name
    folder = folder_of_asset_path(os.fspath(asset))
    for view in eng.jobs():
        if view.folder and same_folder(view.folder, folder):
            found = asset_of_folder(view.folder) if name else None
            return view if not name or (found and found[1] == name) else None
    return None


# ---------------------------------------------------------------------------------------- operators


class MESHY_OT_rebuild_library(bpy.types.Operator):
    """Convert the models of the library that have no model.blend yet (from version 0.1) in background
    Blenders, so the Asset Browser can show them. Nothing is sent to Meshy; the scene is not changed"""

    bl_idname = "meshy.rebuild_library"
    bl_label = "Rebuild Library"

    def execute(self, context):
        run = rebuild(context)
        p = run.progress()
        if p.done:
            report.tell("INFO" if not p.stopped else "WARNING", p.stopped or "The library needs no rebuild", op=self)
        else:
            report.tell("INFO", "Rebuilding the model library in the background", op=self)
        return {"FINISHED"}


class MESHY_OT_reveal_asset(bpy.types.Operator):
    """Show this job's asset: its model.blend and asset name (the path is copied to the clipboard)"""

    bl_idname = "meshy.reveal_asset"
    bl_label = "Show Asset"
    job_id: StringProperty(name="Job", options={"SKIP_SAVE"})

    def execute(self, context):
        eng = runtime.engine_if_started()
        view = eng.get(self.job_id) if eng else None
        if view is None:
            report.tell("ERROR", f"no job '{self.job_id}' in the list", op=self)
            return {"CANCELLED"}
        found = asset_for(view)
        if found is None:
            report.tell("WARNING", f"{view.label} has no model.blend yet: it is made when the model lands, "
                                   "or by Rebuild Library (Meshy panel > Jobs)", op=self)
            return {"CANCELLED"}
        path, name = found
        context.window_manager.clipboard = path
        report.tell("INFO", f"Asset '{name}' in {path} (path copied)", op=self)
        return {"FINISHED"}


# ---------------------------------------------------------------------------------------- drawing


def draw_rebuild(layout, context) -> None:
    """The Rebuild Library button and the latest run's progress and failures (a snapshot: no disk)."""
    eng = runtime.engine_if_started()
    run = eng.rebuild_status() if eng else None
    p = run.progress() if run else None
    col = layout.column(align=True)
    row = col.split(factor=0.75)  # a small button: the tab's one wide button stays Generate / the asset library's
    row.enabled = p is None or p.done
    row.label(text="Models without a .blend")
    row.operator("meshy.rebuild_library", text="Rebuild")
    if p is None:
        return
    if not p.done:
        text = f"Converting {p.finished}/{p.total}" if p.planned else "Looking for models to convert"
        col.progress(factor=p.fraction, type="BAR", text=text)
        for label in p.running[:3]:
            col.label(text=label, icon="SORTTIME")
    elif p.total or p.stopped:
        col.label(text=f"Library: {p.converted} converted, {len(p.failed)} failed", icon="CHECKMARK")
    if p.stopped:
        col.label(text=p.stopped, icon="INFO")
    for failure in p.failed[:MAX_FAILURES_SHOWN]:
        box = col.box()
        box.alert = True
        box.label(text=failure.label, icon="ERROR")
        for line in textwrap.wrap(failure.reason, 48)[:4]:
            box.label(text=line)
    if len(p.failed) > MAX_FAILURES_SHOWN:
        col.label(text=f"... and {len(p.failed) - MAX_FAILURES_SHOWN} more (api.rebuild_library().progress())")


def draw_job_asset(row, view) -> None:
    """The job list's button that shows the job's asset (finished jobs with a model)."""
    if view.state in {"ready", "imported"} and view.files.get("model"):
        row.operator("meshy.reveal_asset", text="", icon="ASSET_MANAGER").job_id = view.id


CLASSES = (MESHY_OT_rebuild_library, MESHY_OT_reveal_asset)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    if bpy.app.timers.is_registered(_redraw):
        bpy.app.timers.unregister(_redraw)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
