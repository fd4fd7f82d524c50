"""The add-on's Python API, for the console, scripts and headless (background) Blender.

    import bl_ext.user_default.meshy_blender.api as meshy
    job = meshy.submit_image("/photos/chair.jpg", enable_pbr=True, target_polycount=20000)
    objects = meshy.wait(job)            # drives the same main-thread step as the panel's pump
    meshy.resume()                       # after opening a .blend headless: what Blender's startup does

Sources are file paths or `bpy.types.Image`; option names are Meshy's API field names
(ai_model, enable_pbr, texture_prompt, ...). MESHY_API_KEY and MESHY_API_BASE_URL in the
environment override the add-on preferences.

Follow-ups start from a finished job (a Job, a job id) or a Meshy task id, and return Jobs too:

    low = meshy.remesh(job, target_polycount=5000, topology="quad")
    red = meshy.retexture(job, text_style_prompt="red lacquer", enable_pbr=True)
    rig = meshy.rig(job, height_meters=1.8)   # armature + Walking / Running actions
    meshy.wait(rig); meshy.wait(meshy.animate(rig, 0))   # action 0 (Idle) lands on the same armature
    levels = meshy.lods(job)                  # LOD0..LOD2 (50k, 10k, 2k) in one collection
"""

from __future__ import annotations

import time

import bpy

from .blender import addon, pump, runtime
from .meshy.errors import ReportableError

__all__ = ["Job", "JobFailed", "add_asset_library", "animate", "asset_for", "job_for_asset", "jobs", "lods",
           "rebuild_library", "remesh", "resume", "retexture", "rig", "submit_image", "submit_images", "wait"]

TERMINAL_FAILURES = {"failed", "error", "canceled", "expired", "unknown"}


class JobFailed(ReportableError, RuntimeError):
    """A job ended without a model; `.user_message` says why and what to do."""

    def __init__(self, job: Job, message: str):
        super().__init__(message)
        self.job = job


class Job:
    """A handle on one job: its current state is read from the engine each time."""

    def __init__(self, job_id: str):
        self.id = job_id

    @property
    def view(self):
        return runtime.engine().get(self.id)

    @property
    def state(self) -> str:
        view = self.view
        return view.state if view else "removed"

    @property
    def tag(self) -> str:
        """The caller's own string given at submit time (e.g. a batch item), kept in the journal."""
        view = self.view
        return view.target.get("tag", "") if view else ""

    @property
    def objects(self) -> list:
        """This job's objects in the open file (found by their meshy_job_id tag; an animation landed on its
        rig: that armature)."""
        from .blender.convert_rig import armatures_playing

        return pump.objects_by_job().get(self.id, []) or armatures_playing(self.id)

    def __repr__(self):
        view = self.view
        return f"<meshy Job {self.id} {view.label!r} {view.state}>" if view else f"<meshy Job {self.id} removed>"


def _check_ready():
    reason = addon.unavailable_reason(bpy.context)
    if reason:
        raise RuntimeError(reason)


def _prepare(source, max_size):
    from .blender.images import InputError, prepare_file, prepare_image

    try:
        if isinstance(source, bpy.types.Image):
            return prepare_image(source, max_size)
        return prepare_file(str(source), max_size)
    except InputError as exc:
        raise ValueError(exc.user_message) from None


def _submit(kind: str, sources: list, options: dict, label: str, tag: str, catalog: str = "") -> Job:
    from .blender.operators import job_target
    from .jobs import JobSpec

    _check_ready()
    context = bpy.context
    p = addon.prefs(context)
    prepared = [_prepare(s, p.max_image_size if p else 4096) for s in sources]
    spec = JobSpec(
        kind=kind,
        images=[x.upload() for x in prepared],  # converted images are encoded on a worker
        input_task_id=options.pop("input_task_id", None),
        options=options,
        label=label or (prepared[0].name if prepared else "Meshy model"),
        blend_file=bpy.data.filepath,
        target=job_target(context, tag=tag, **({"catalog": catalog} if catalog else {})),
    )
    job = Job(runtime.engine(context).submit(spec))
    pump.ensure_running(context)
    return job


def submit_image(source, *, label: str = "", tag: str = "", catalog: str = "", **options) -> Job:
    """Image to 3D from one file path or Blender image (or input_task_id=... with source None).

    ``catalog``: a name kept in the job's target as "catalog" (batch.py gives its batch's name), for the
    model's asset catalog."""
    sources = [] if source is None else [source]
    return _submit("image-to-3d", sources, dict(options), label, tag, catalog)


def submit_images(sources, *, label: str = "", tag: str = "", catalog: str = "", **options) -> Job:
    """Multi-Image to 3D from 1-4 photos of one object (one photo falls back to Image to 3D)."""
    sources = list(sources)
    if not 1 <= len(sources) <= 4:
        raise ValueError(f"{len(sources)} images given: Meshy takes 1 to 4 images of one object")
    kind = "image-to-3d" if len(sources) == 1 else "multi-image-to-3d"
    return _submit(kind, sources, dict(options), label, tag, catalog)


def _followup(kind: str, source, options: dict, **kw) -> Job:
    from .blender import followup_jobs

    _check_ready()
    return Job(followup_jobs.submit(bpy.context, kind, source, options, **kw))


def remesh(source, *, label: str = "", tag: str = "", catalog: str | list[str] = "", **options) -> Job:
    """Remesh a finished job (Job, job id) or Meshy task: target_polycount, topology, decimation_mode, ...
    (5 credits). ``tag`` and ``catalog`` as for submit_image (a list of names: a nested asset catalog)."""
    return _followup("remesh", source, options, label=label, tag=tag, catalog=catalog)


def retexture(source, *, label: str = "", **options) -> Job:
    """New textures from text_style_prompt, or image_style_url: a Blender image, a file path, a URL or a
    data URI (10 credits). The result lands like Image to 3D, PBR maps wired."""
    return _followup("retexture", source, options, label=label)


def rig(source, *, label: str = "", **options) -> Job:
    """Rig a humanoid (height_meters, default 1.7): lands as an armature with the mesh skinned to it and
    Meshy's Walking and Running clips as actions (5 credits)."""
    from .blender.followup_jobs import rig_options

    return _followup("rigging", source, rig_options(options), label=label)


def animate(source, action_id: int, *, label: str = "", **options) -> Job:
    """Apply a library action (e.g. 0 Idle) to a rigging job or task (3 credits); operation_type and fps
    as Meshy names them. Lands as another action on the rig when it is in the scene."""
    from .blender.followup_jobs import action_label, animate_options

    return _followup("animations", source, animate_options(action_id, options), label=label,
                     suffix=action_label(action_id))


def lods(source, polycounts=None, **options) -> list[Job]:
    """One Remesh job per polycount (default 50000, 10000, 2000), landing as LOD0..LODn in one collection."""
    from .blender import followup_jobs

    _check_ready()
    return [Job(i) for i in followup_jobs.lods(bpy.context, source, polycounts, **options)]


def jobs() -> list[Job]:
    """Every job in the list, newest first."""
    return [Job(v.id) for v in runtime.engine().jobs()]


def resume() -> list[Job]:
    """Carry on the journal's jobs for the open file; return the jobs imported now.

    What a windowed Blender does by itself at startup and after File > Open, which never happens
    in background mode: call it after `bpy.ops.wm.open_mainfile` in a script. Imports the jobs
    that finished for this file, and the models a Blender that crashed (or quit without saving)
    had imported into it; jobs still running carry on (`wait()` on them, see `jobs()`). Raises
    RuntimeError saying what to do when online access is off or there is no key, as submitting does.
    """
    from .blender import handlers, rebuild_ops

    _check_ready()
    runtime.engine(bpy.context)
    imported = [Job(job_id) for job_id in handlers.carry_on(bpy.context)]
    rebuild_ops.start_automatic(bpy.context)  # the first use's library rebuild, as at startup
    return imported


def wait(job: Job | str, timeout: float | None = None, on_progress=None) -> list:
    """Drive the pump until the job's objects are in the scene; return them (never an empty list).

    Works in background mode, where no modal operator runs. A job imported into this file by a
    Blender that crashed before saving is imported again. Raises JobFailed when the job ends
    without a model, or when it was imported and none of its objects is in the open file (the
    message names the file it went to), TimeoutError after `timeout` seconds (the job keeps running).
    `on_progress(view)` is called after every step (view.state, view.phase, view.progress).
    """
    job = job if isinstance(job, Job) else Job(job)
    eng = runtime.engine()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        view = eng.get(job.id)
        if view is None:
            raise JobFailed(job, f"Job {job.id} is not in the list")
        if on_progress is not None:
            on_progress(view)
        if view.state == "imported":
            objects = job.objects or _import_lost(job, view)
            if objects:
                return objects
            view = eng.get(job.id) or view  # importing it again failed: the job's state says why
            if view.state == "imported":
                raise JobFailed(job, f"{view.label}: importing the model again failed")
        if view.state == "ready" and not pump.belongs_here(view):
            objects = pump.import_job(bpy.context, view, force=True)
            if objects:
                return objects
        if view.state in TERMINAL_FAILURES:
            raise JobFailed(job, f"{view.label}: {view.error or view.phase or view.state}")
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError(f"{view.label} is still {view.phase or view.state} after {timeout} s")
        wait_for = 0.25 if remaining is None else max(0.0, min(0.25, remaining))
        pump.tick(bpy.context, events=eng.poll_events(max_events=256, timeout=wait_for))


def _import_lost(job: Job, view) -> list:
    """A job the journal calls imported, none of whose objects is in the open file."""
    from .blender import handlers

    if handlers.is_lost_import(view):
        return pump.import_job(bpy.context, view, force=True)
    current = bpy.data.filepath or "the open, unsaved file"
    hint = f"bpy.ops.meshy.import_task(job_id={job.id!r})"
    if pump.belongs_here(view):
        raise JobFailed(job, f"{view.label} was imported into {current}, but none of its objects is there any more "
                             f"(removed, undone or reverted): to import it again, run {hint}")
    where = bpy.path.abspath(view.blend_file) if view.blend_file else "an unsaved file of another session"
    raise JobFailed(job, f"{view.label} was imported into {where}, not into {current}: open {where} to find it, "
                         f"or import it here with {hint}")


# ---- the model library: in the Asset Browser, rebuilding it, and assets <-> jobs -------------------

def add_asset_library():
    """Add the model library folder to Preferences > File Paths > Asset Libraries as "Meshy" (import
    method Append (Reuse Data); Pack on Blender 5.x), or point the existing entry at the folder in use
    now; never a second entry. Returns an AssetLibraryEntry (name, path, import_method, change: "added" | "updated" |
    "unchanged", saved_note). The preferences are not saved here: Blender's Auto-Save Preferences
    does that when it quits, or `bpy.ops.wm.save_userpref()`.
    """
    from .blender import asset_library

    return asset_library.add_asset_library(bpy.context)


def rebuild_library():
    """Convert every model of the library that has no model.blend yet (version 0.1 kept model.glb only),
    in background Blenders (at most Concurrent Conversions at once); returns the run at once.

        run = meshy.rebuild_library()
        run.wait()                       # blocks until every folder is done (background mode: no pump needed)
        p = run.progress()               # p.total, p.converted, p.failed [(folder, label, reason)], p.done
    A run already under way is returned as it is. Nothing is sent to Meshy and no scene changes; a
    Blender closed mid-way carries on at its next start (each folder is converted once).
    """
    from .blender import rebuild_ops

    return rebuild_ops.rebuild(bpy.context)


def asset_for(job: Job | str) -> tuple[str, str] | None:
    """(model.blend path, asset name) of a job's model, as the Asset Browser lists it; None while the
    job has no complete model.blend (still running, or from version 0.1: see rebuild_library())."""
    from .blender import rebuild_ops

    job_id = job.id if isinstance(job, Job) else str(job)
    view = runtime.engine().get(job_id)
    if view is None:
        raise ValueError(f"No job {job_id!r} in the list (meshy.jobs() lists them)")
    return rebuild_ops.asset_for(view)


def job_for_asset(asset, name: str = "") -> Job | None:
    """The job an asset came from: a collection or object appended / linked from the library, an Asset
    Browser entry (`context.asset`), or a model.blend path (or its folder) with an optional asset name.
    None when no job in the list made it (a removed job, another machine's library)."""
    from .blender import rebuild_ops

    view = rebuild_ops.job_for_asset(runtime.engine(), asset, name)
    return Job(view.id) if view is not None else None
