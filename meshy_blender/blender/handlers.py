"""Application handlers: carry jobs on after File > Open and when Blender starts with unfinished jobs.

A modal operator ends when another .blend is opened, so the pump is restarted from a persistent
load_post handler. Work is deferred to a timer so the handler itself stays instant.

A job is imported exactly once into its own .blend: "ready" jobs of the open file are imported, and
so are jobs that a Blender which then crashed (or quit without saving) had imported into this file
when the file on disk was not saved after that import (see `lost_imports`).
"""

import os

import bpy
from bpy.app.handlers import persistent

from . import addon, pump, rebuild_ops, runtime

STARTUP_DELAY = 0.5
# File times come from the kernel's coarse clock (one tick behind time.time()): a save made a few
# milliseconds after an import may carry an earlier time. Only a save clearly before the import counts.
SAVE_CLOCK_SLACK = 0.1


def carry_on(context) -> list[str]:
    """Recover the journal's jobs, import what belongs to the open file, run the pump.

    Imports the "ready" jobs of this file and the imports lost here by a Blender that crashed
    before saving (`lost_imports`). What the startup timer and the load_post handler do in a
    windowed Blender; `api.resume()` calls it for scripts, since in background mode neither runs.
    Returns the ids of the jobs imported now.
    """
    eng = runtime.engine_if_started()
    if eng is None:
        if not runtime.journal_has_jobs() or not addon.online(context):
            return []
        eng = runtime.engine(context)
    imported = []
    for view in eng.jobs():
        if view.state == "ready" and pump.belongs_here(view) and pump.import_job(context, view):
            imported.append(view.id)
    for view in lost_imports(eng):
        if pump.import_job(context, view, force=True):
            imported.append(view.id)
    if pump.has_work(eng):
        pump.ensure_running(context)
    return imported


def resume():
    """Timer callback (after startup and File > Open): carry_on() and the first use's library
    rebuild (rebuild_ops.start_automatic), never raising into Blender."""
    try:
        carry_on(bpy.context)
        rebuild_ops.start_automatic(bpy.context)
    except Exception as exc:  # a handler must never break file loading
        print(f"Meshy: could not resume jobs: {type(exc).__name__}: {exc}")
    return None


def lost_imports(eng) -> list:
    """Jobs imported into the open file whose import never reached the file on disk.

    The journal says "imported" into this file, yet no object carries the job's tag, the import was
    made by another Blender process (one that crashed or quit without saving, not this one: here
    the user may have undone it or reverted on purpose), and the file was last saved before the
    import. If the file was saved after the import, the user had the model and removed it: not lost.
    """
    tagged = pump.objects_by_job()
    return [view for view in eng.jobs() if view.id not in tagged and is_lost_import(view)]


def is_lost_import(view) -> bool:
    """One job of `lost_imports` (the caller has checked that no object in the file carries its tag)."""
    current = bpy.data.filepath
    if not current or view.state != "imported" or view.id in pump.imported_here:
        return False
    try:
        saved_at = os.path.getmtime(current)
    except OSError:
        return False
    model = view.files.get("model")
    if not model or not os.path.isfile(model) or not pump.belongs_here(view):
        return False
    return saved_at + SAVE_CLOCK_SLACK < (view.finished or view.updated or 0.0)


@persistent
def on_load_post(*_args):
    runtime.new_session()
    pump._running["pump"] = False  # loading a file ended the modal operator
    if not bpy.app.timers.is_registered(resume):
        bpy.app.timers.register(resume, first_interval=STARTUP_DELAY)


def register():
    bpy.app.handlers.load_post.append(on_load_post)
    if not bpy.app.background:
        bpy.app.timers.register(resume, first_interval=STARTUP_DELAY)


def unregister():
    if on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(on_load_post)
    if bpy.app.timers.is_registered(resume):
        bpy.app.timers.unregister(resume)
