"""The pump: the one main-thread step that applies what the job engine's workers finished.

`tick()` drains the engine's events without blocking, redraws the panels that show jobs and
account info, lands finished models (appends the converter's model.blend; imports model.glb
in-process only where no converter can run) and applies account look-ups (balance, history). It
never touches the network and never waits. The modal operator MESHY_OT_pump calls it on every
TIMER event; headless scripts (api.wait) and tests call it directly, since the bpy module has
no event loop. What goes wrong is told through report.tell(), like everywhere else.
"""

from __future__ import annotations

import bpy

from . import addon, report, runtime

TIMER_INTERVAL = 0.1
_running = {"pump": False}
LOOKUP_NAMES = {"balance": "Balance", "history": "Account History"}
PROBLEM_STATES = {"failed": "WARNING", "error": "ERROR", "expired": "ERROR", "unknown": "WARNING",
                  "canceled": "WARNING"}  # canceled with an error text: canceled on Meshy's server
_reported: set[tuple[str, str, str]] = set()  # (job id, state, message) already in the status bar
imported_here: set[str] = set()  # jobs imported by this Blender process (not by one that crashed)
_fallback_told = {"done": False}  # the in-process import (no converter) is told once per session


def report_problem(view, message: str = "", *, panel: bool = False) -> None:
    """Tell a job's problem once (the job list shows it too; ``panel``: also the panel's message line)."""
    message = message or view.error
    key = (view.id, str(view.state), message)
    if not message or (key in _reported and not panel):
        return
    _reported.add(key)
    report.tell(PROBLEM_STATES.get(str(view.state), "ERROR"), f"{view.label}: {message}", panel=panel)


def _redraw(context):
    wm = (context or bpy.context).window_manager
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "IMAGE_EDITOR"}:
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


def belongs_here(view) -> bool:
    """A job is imported into the file it was submitted from, and only there."""
    current = bpy.data.filepath
    if view.blend_file:
        return bpy.path.abspath(view.blend_file) == current
    return not current and view.target.get("session") == runtime.session_token()


def objects_by_job() -> dict[str, list]:
    """Imported objects by job id, found by their tag (object names change between sessions)."""
    found: dict[str, list] = {}
    for obj in bpy.data.objects:
        job_id = obj.get("meshy_job_id")
        if job_id:
            found.setdefault(job_id, []).append(obj)
    return found


def import_job(context, view, *, force: bool = False) -> list:
    """Land a downloaded job's model now, in this step: append its model.blend, or import model.glb
    in-process where no converter could run; mark it in the engine (and so the journal).

    Operators, scripts and the startup hand-over call this; the pump itself lands a job that became
    ready in stages over several steps (`_landings`), and a landing it has begun is finished here.
    """
    from .append import Landing
    from .convert_rig import land_on_rig
    from .importer import ImportFailed

    pending = _landings.pop(view.id, None)
    start = _start(context, view, force=force)
    if start is None:
        if pending is not None:
            pending.cancel()
        return []
    eng, view, converted = start
    eng.mark_importing(view.id, persist=not converted)  # an append takes milliseconds; the glTF import seconds
    try:
        objects = land_on_rig(context, view) if converted else []  # an animation onto its rig in the scene
        if objects:
            if pending is not None:
                pending.cancel()
        elif converted:
            reuse = pending is not None and pending.same_file()  # else what it read went with another file
            landing = pending.landing if reuse else Landing(view.folder, link=_link(context))
            objects = _finish(context, view, landing)
        else:
            objects = _import_in_process(context, eng, view)
    except ImportFailed as exc:
        _failed(eng, view, exc)
        return []
    return _imported(eng, view, objects)


class _Pending:
    """A ready job's model landing over several pump steps (append.Landing), in the file it began in."""

    def __init__(self, landing, session: str, filepath: str):
        self.landing, self.session, self.filepath = landing, session, filepath

    def same_file(self) -> bool:
        return self.session == runtime.session_token() and self.filepath == bpy.data.filepath

    def cancel(self) -> None:
        if self.same_file():  # after File > Open what it read went with the old file
            self.landing.cancel()


_landings: dict[str, _Pending] = {}  # job id -> its landing, oldest first; one stage per tick in all


def _begin_landing(context, view) -> None:
    """A job became ready: its model lands in stages, one per step (`advance_landing`), this one first."""
    from .append import Landing
    from .importer import ImportFailed

    if view.id in _landings:
        return
    start = _start(context, view)
    if start is None:
        return
    eng, view, converted = start
    if not converted or rig_in_scene_for(context, view):
        import_job(context, view)  # no converter here (the in-process import), or an action onto its rig: at once
        return
    try:
        landing = Landing(view.folder, link=_link(context))
    except ImportFailed as exc:
        eng.mark_importing(view.id)
        _failed(eng, view, exc)
        return
    _landings[view.id] = _Pending(landing, runtime.session_token(), bpy.data.filepath)


def rig_in_scene_for(context, view) -> bool:
    """An animation job whose rig is in the scene lands as one action on it, not as a model in stages."""
    from .convert_rig import ANIMATION_KIND, rig_in_scene

    return view.kind == ANIMATION_KIND and rig_in_scene(
        context.scene, (view.lineage or {}).get("source_task_id", "")) is not None


def advance_landing(context) -> bool:
    """One stage of the oldest landing; True when there was one to advance."""
    from .importer import ImportFailed

    if not _landings:
        return False
    job_id, pending = next(iter(_landings.items()))
    eng = runtime.engine_if_started()
    view = eng.get(job_id) if eng is not None else None
    if view is None or view.state != "ready" or not belongs_here(view) or not pending.same_file():
        del _landings[job_id]  # removed, stopped, imported by an operator, or another file is open now
        pending.cancel()
        return True
    landing = pending.landing
    if landing.stage < landing.stages:
        try:
            landing.step(context, **_target(view))
        except ImportFailed as exc:
            del _landings[job_id]
            eng.mark_importing(view.id)
            _failed(eng, view, exc)
            return True
        eng.show_phase(job_id, f"Importing ({landing.stage - 1}/{landing.stages})")
        return True
    del _landings[job_id]
    eng.mark_importing(job_id, persist=False)  # this step lands it: only "imported" is journalled
    try:
        objects = _finish(context, view, landing)
    except ImportFailed as exc:
        _failed(eng, view, exc)
        return True
    _imported(eng, view, objects)
    return True


def _start(context, view, *, force: bool = False):
    """(engine, view, converted) for a job to land now; None when it is not to land here (told why)."""
    from ..jobs import JobError

    eng = runtime.engine(context)
    if not force:
        current = eng.get(view.id)
        if current is None or current.state != "ready" or not belongs_here(current):
            return None  # imported already, removed, or it belongs to another file
        view = current
    if not view.files.get("model"):
        eng.mark_import_failed(view.id, "The job has no downloaded model: press Retry to download it again")
        return None
    converted = _converted(view)
    if not converted and eng.settings.converter is not None and eng.converter_problem() is None:
        try:
            eng.retry_download(view.id)  # no complete model.blend (never appended): convert (again), then land
        except JobError as exc:
            report_problem(view, report.message_of(exc), panel=True)
        return None
    return eng, view, converted


def _finish(context, view, landing) -> list:
    """The landing's remaining stages, now (the last one puts the model in the scene)."""
    while True:
        objects = landing.step(context, **_target(view))
        if objects is not None:
            break
    if landing.link:  # the instancing empty is the job's object in this file (lost-import recovery finds it)
        for key, value in _tags(view).items():
            objects[0][key] = value
    return objects


def _failed(eng, view, exc) -> None:
    message = report.message_of(exc)
    eng.mark_import_failed(view.id, message)
    report_problem(eng.get(view.id) or view, message, panel=True)


def _imported(eng, view, objects: list) -> list:
    eng.mark_imported(view.id, [o.name for o in objects], bpy.data.filepath)
    imported_here.add(view.id)
    report.tell("INFO", f"imported {view.label} ({len(objects)} objects)")
    return objects


def _converted(view) -> bool:
    from ..jobs import converter

    try:
        converter.finished_blend(view.folder)
    except converter.BlendNotReady:
        return False
    return True


def _tags(view) -> dict[str, str]:
    return {"meshy_job_id": view.id, "meshy_task_id": view.task_id or ""}


def _target(view) -> dict:
    target = view.target or {}
    return {"scene_name": target.get("scene"), "collection_name": target.get("collection"),
            "at_cursor": target.get("at_cursor", True)}


def _link(context) -> bool:
    p = addon.prefs(context)
    return bool(p and p.link_models)


def _import_in_process(context, eng, view) -> list:
    """No converter here (no executable, a sandbox): Blender's glTF importer on this thread, said once."""
    from .importer import import_model

    problem = eng.converter_problem()
    if problem and not _fallback_told["done"]:
        _fallback_told["done"] = True
        report.tell("WARNING", f"{problem} Blender pauses while each model is imported.")
    target = view.target or {}
    return import_model(
        context, view.files["model"], name=view.label or "Meshy model",
        texture_files=view.files.get("textures") or {}, scene_name=target.get("scene"),
        collection_name=target.get("collection"), at_cursor=target.get("at_cursor", True), tags=_tags(view),
    )


def _apply_account(event) -> None:
    """An account look-up answered: the panel draws runtime.account; a failure is told as well."""
    runtime.account.update({event.what: event.result, event.what + "_error": event.error})
    if event.error:
        report.tell("ERROR", f"{LOOKUP_NAMES.get(event.what, event.what)}: {event.error}")


def _apply(context, events) -> None:
    from ..jobs import AccountEvent

    for event in events:
        if isinstance(event, AccountEvent):
            _apply_account(event)
            continue
        view = event.view
        thumb = view.files.get("thumbnail")
        if thumb and addon.has_window(context):
            runtime.thumbnail_icon(view.id, thumb)
        if event.ready:
            _begin_landing(context, view)
        elif view.state in PROBLEM_STATES and view.error:
            report_problem(view)  # failures found by a worker (key, credits, network, expired links)


def tick(context=None, events=None) -> bool:
    """One step. Returns True while jobs are still running (the pump keeps going)."""
    context = context or bpy.context
    eng = runtime.engine_if_started()
    if eng is None:
        return False
    runtime.settings.refresh(context)
    if events is None:
        events = eng.poll_events(max_events=256)
    if events:
        _apply(context, events)
    if advance_landing(context) or events:
        _redraw(context)
    return has_work(eng)


def has_work(eng) -> bool:
    """Jobs this Blender still has to follow or import (a job ready for another .blend waits for that
    file), or an account look-up whose answer has not been applied yet."""
    if eng.looking_up():
        return True
    if not eng.has_active():
        return False
    from ..jobs.states import WORKER

    for view in eng.jobs():
        if view.state in WORKER or view.state == "importing":  # WORKER includes converting
            return True
        if view.state == "ready" and belongs_here(view):
            return True
    return False


def is_running() -> bool:
    return _running["pump"]


def ensure_running(context=None) -> bool:
    """Start the modal pump if there is a window to run it in (not in background mode)."""
    if _running["pump"] or bpy.app.background:
        return _running["pump"]
    wm = (context or bpy.context).window_manager
    if not wm.windows:
        return False
    window = wm.windows[0]
    with bpy.context.temp_override(window=window, screen=window.screen):
        bpy.ops.meshy.pump("INVOKE_DEFAULT")  # type: ignore[attr-defined]  # our own operator
    return _running["pump"]


class MESHY_OT_pump(bpy.types.Operator):
    """Follow Meshy jobs in the background (runs by itself while jobs are active)"""

    bl_idname = "meshy.pump"
    bl_label = "Meshy Job Pump"
    bl_options = {"INTERNAL"}

    _timer = None

    def invoke(self, context, event):
        return self.execute(context)

    def execute(self, context):
        if _running["pump"] or context.window is None:
            return {"CANCELLED"}
        _running["pump"] = True
        self._timer = context.window_manager.event_timer_add(TIMER_INTERVAL, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            active = tick(context)
        except Exception as exc:  # never let an exception kill the pump silently
            report.tell("ERROR", f"{type(exc).__name__}: {report.message_of(exc)}")
            active = True
        report.show(self)
        if not active:
            self._stop(context)
            return {"FINISHED"}
        return {"PASS_THROUGH"}

    def cancel(self, context):
        self._stop(context)

    def _stop(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        _running["pump"] = False


CLASSES = (MESHY_OT_pump,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    _running["pump"] = False
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
