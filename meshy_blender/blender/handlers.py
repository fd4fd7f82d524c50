"""Application handlers: carry jobs on after File > Open and when Blender starts with unfinished jobs.

A modal operator ends when another .blend is opened, so the pump is restarted from a persistent
load_post handler. Work is deferred to a timer so the handler itself stays instant.
"""

import bpy
from bpy.app.handlers import persistent

from . import addon, pump, runtime

STARTUP_DELAY = 0.5


def resume():
    """Timer callback: recover journal jobs, import ready jobs that belong to this file, run the pump."""
    try:
        context = bpy.context
        eng = runtime.engine_if_started()
        if eng is None:
            if not runtime.journal_has_jobs() or not addon.online(context):
                return None
            eng = runtime.engine(context)
        for view in eng.jobs():
            if view.state == "ready" and pump.belongs_here(view):
                pump.import_job(context, view)
        if eng.has_active():
            pump.ensure_running(context)
    except Exception as exc:  # a handler must never break file loading
        print(f"Meshy: could not resume jobs: {type(exc).__name__}: {exc}")
    return None


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
