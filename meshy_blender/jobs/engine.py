"""JobEngine: the public surface of the job engine, for Blender's main thread and scripts.

The main thread calls the public methods (all quick: no network, no waiting on the disk
beyond one small journal write) and drains ``poll_events``. Everything slow runs on the
engine's threads (their entry points: engine_threads.py), in the worker modules: ``worker``
(a job's network life), ``inputs`` (saving input images), ``convert_worker`` (model.glb ->
model.blend in a background Blender, on its own bounded threads), ``remote`` (deleting a task on
Meshy), ``account`` (balance and history look-ups). Job state lives in the ``JobTable``, the
one place that changes it.
Imports run one way: this module imports the workers; they never import it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..meshy import ALL_KINDS
from . import account, convert_worker, converter, followup, inputs, rebuild, remote
from . import files as F
from .context import WorkerContext
from .engine_threads import EngineThreads
from .errors import EngineClosed, JobError
from .journal import JobRecord, Journal
from .model import AccountEvent, JobEvent, JobSpec, JobView
from .scheduler import Scheduler
from .settings import EngineSettings
from .states import ACTIVE, FINISHED, RESUBMITTABLE, JobState
from .table import JobTable
from .turns import CreateTurns
from .validation import check_kind, checked_task_id, validate

log = logging.getLogger(__name__)

_SHUTDOWN_JOIN = 15.0
_IO_THREADS = 2  # input saving, remote deletes and account look-ups (never a job's network life)
_STILL_CHECKING = ("This job was canceled while it was being submitted; the add-on is still checking whether "
                   "Meshy received it (so that it is never paid for twice). Try again once its line says.")


def _estimate_credits(kind: str, options: dict[str, Any]) -> int | None:
    from ..meshy.pricing import estimate_credits

    if followup.is_followup(kind):
        return followup.credits(kind)
    try:
        return estimate_credits(options.get("ai_model"), options.get("should_texture"))
    except Exception:
        return None


class JobEngine(EngineThreads):
    """Runs Meshy jobs in worker threads; safe to call from Blender's main thread.

    ``settings`` (or its fields as keyword arguments) is the frozen tuning; ``max_concurrent`` and
    ``library_dir`` may change while running (``set_max_concurrent``, ``set_library_dir``).
    """

    def __init__(self, journal_dir: Path, library_dir: Path, client_factory: Callable[[], Any], *,
                 max_concurrent: int = 4, max_conversions: int = 2, settings: EngineSettings | None = None,
                 **tuning: Any):
        if settings is not None and tuning:
            raise TypeError("give either settings or its fields as keyword arguments, not both")
        self.settings = settings or EngineSettings(**tuning)
        self.journal = Journal(journal_dir)
        self.client_factory = client_factory
        self._library_dir = Path(library_dir)
        self._max_concurrent = max(1, int(max_concurrent))
        self._table = JobTable(self.journal, self.settings.event_interval)
        self._ctx = WorkerContext(self._table, CreateTurns(self.journal.dir / "locks", ALL_KINDS), self.settings,
                                  client_factory)
        self._lookups: set[str] = set()  # asked for, answer not yet handed to the main thread
        self._workers = Scheduler(self._max_concurrent, self._run_network, "meshy-job")
        self._control = Scheduler(_IO_THREADS, self._run_control, "meshy-io")
        self._max_conversions = max(1, int(max_conversions))
        self._converters: Scheduler[Any] = Scheduler(self._max_conversions, self._run_convert, "meshy-convert")
        self.converter_status = convert_worker.ConverterStatus()
        self._rebuild: rebuild.Rebuild | None = None

    # ================================================================ settings that may change
    @property
    def max_concurrent(self) -> int:
        return self._max_concurrent

    def set_max_concurrent(self, n: int) -> None:
        """Jobs worked at once, from now: more start queued jobs at once, fewer let running ones finish."""
        self._max_concurrent = max(1, int(n))
        self._workers.resize(self._max_concurrent)

    @property
    def max_conversions(self) -> int:
        return self._max_conversions

    def set_max_conversions(self, n: int) -> None:
        """Converters (background Blenders) run at once, from now: fewer let running ones finish."""
        self._max_conversions = max(1, int(n))
        self._converters.resize(self._max_conversions)

    def converter_problem(self) -> str | None:
        """Why models are imported in-process instead of converted (None while converters work)."""
        return self.converter_status.problem()

    @property
    def library_dir(self) -> Path:
        return self._library_dir

    def set_library_dir(self, path: Path | str) -> None:
        """Where new jobs keep their files from now on; jobs already made keep their folders. After an
        automatic rebuild (first use), the new folder's models from version 0.1 are converted too."""
        changed = Path(path) != self._library_dir
        self._library_dir = Path(path)
        if changed and self._rebuild is not None and self._rebuild.automatic and not self._table.closed.is_set():
            self.rebuild_library(automatic=True)

    # ================================================================ jobs (main thread)
    def submit(self, spec: JobSpec) -> str:
        """Validate, write the record (state preparing), hand over to the workers; returns the job id.

        Raises the client's ValidationError at once for bad input (nothing is written then),
        and OSError when the journal cannot be written (nothing is sent then).
        """
        self._check_open()
        is_followup = followup.is_followup(spec.kind)
        options, attachments = followup.validate(spec) if is_followup else validate(spec)
        job_id = uuid.uuid4().hex
        label = spec.label or (spec.images[0].name if spec.images else "") or spec.input_task_id or spec.kind
        now = time.time()
        rec = JobRecord(
            id=job_id, kind=spec.kind, label=label, phase="Preparing", input_task_id=spec.input_task_id,
            options=options,
            option_files={k: F.option_file_name(k, m) for k, (m, _) in attachments.items()},
            input_names=[img.name for img in spec.images],
            input_files=[F.input_file_name(i, img.mime) for i, img in enumerate(spec.images)],
            input_mimes=[img.mime.lower() for img in spec.images],
            folder=str(F.job_folder(self._library_dir, label, job_id)), blend_file=spec.blend_file or "",
            target=dict(spec.target or {}), credits=_estimate_credits(spec.kind, options), created_at=now,
            updated_at=now, lineage=followup.lineage_of(spec, options) if is_followup else {},
        )
        rec.set_state(JobState.PREPARING, now)
        self._table.adopt(rec, images=list(spec.images), attachments=attachments)
        self._control.put(("prep", job_id))
        return job_id

    def follow(self, kind: str, task_id: str, label: str = "", blend_file: str = "",
               target: dict | None = None) -> str:
        """Import an existing Meshy task (account history, a known id): watch and download, no create."""
        self._check_open()
        check_kind(kind)
        task_id = checked_task_id(task_id)
        existing = self._table.active_job_with_task(task_id)
        if existing:
            return existing
        job_id = uuid.uuid4().hex
        label = label or f"Task {task_id[:8]}"
        now = time.time()
        rec = JobRecord(
            id=job_id, kind=kind, label=label, phase="Checking Meshy", task_id=task_id, source="follow",
            folder=str(F.job_folder(self._library_dir, label, job_id)), blend_file=blend_file or "",
            target=dict(target or {}), created_at=now, updated_at=now,
        )
        rec.set_state(JobState.PENDING, now)
        self._table.adopt(rec)
        self._workers.put(job_id)
        return job_id

    def poll_events(self, max_events: int = 100, timeout: float | None = None) -> list[JobEvent | AccountEvent]:
        """Drain queued events; never blocks unless a timeout is given (then only for the first)."""
        events = self._table.poll(max_events, timeout)
        for event in events:
            if isinstance(event, AccountEvent):
                self._lookups.discard(event.what)
        return events

    def jobs(self) -> list[JobView]:
        """Snapshots of every job in the list, newest first."""
        return self._table.views()

    def get(self, job_id: str) -> JobView | None:
        job = self._table.find(job_id)
        return job.view if job else None

    def mark_importing(self, job_id: str, *, persist: bool = True) -> None:
        """``persist=False`` for an import of a few milliseconds: "importing" recovers as "ready" either
        way, and the "imported" record that follows at once carries the history."""
        self._table.change(self._table.get(job_id), JobState.IMPORTING, persist=persist, phase="Importing", error="")

    def show_phase(self, job_id: str, phase: str) -> None:
        """The main thread's progress on a ready job (its model landing over several pump steps):
        shown in the panel, not journalled, and announced at once, so a waiting poll_events() returns
        for the next step."""
        job = self._table.get(job_id)
        if self._table.apply(job, None, persist=False, phase=phase) is not None:
            self._table.commit(job, (None, None, job.view))

    def mark_imported(self, job_id: str, objects: list[str], blend_file: str) -> None:
        job = self._table.get(job_id)
        self._table.change(job, JobState.IMPORTED, phase="Imported", error="", progress=1.0,
                           objects=list(objects), blend_file=blend_file or job.rec.blend_file)
        self._table.release_if_idle(job)

    def mark_import_failed(self, job_id: str, message: str) -> None:
        job = self._table.get(job_id)
        self._table.change(job, JobState.ERROR, phase=f"Import failed: {message}", error=message)
        self._table.release_if_idle(job)

    def cancel(self, job_id: str) -> None:
        """Stop following locally; the task keeps running on Meshy and nothing is deleted."""
        table = self._table
        job = table.get(job_id)
        with table.lock:
            if job.rec.state in FINISHED:
                return
            lost = not job.rec.task_id and job.rec.state == JobState.SUBMITTING  # the create may have landed
            phase = (remote.CHECKING_PHASE if lost else
                     "Canceled — the task keeps running on Meshy" if job.rec.task_id else "Canceled")
            commit = table.apply(job, JobState.CANCELED, phase=phase, stop_reason="cancel", unreconciled=lost)
        table.commit(job, commit)
        self._workers.discard(job_id)
        self._converters.discard(job_id)
        if lost:
            self._control.put(("reconcile", job_id))
        table.release_if_idle(job)

    def delete_remote(self, job_id: str) -> None:
        """Delete the task on Meshy's server (on an I/O thread); the job then ends as canceled."""
        table = self._table
        job = table.get(job_id)
        with table.lock:
            maybe_sent = job.rec.state == JobState.SUBMITTING or job.rec.unreconciled
            if not job.rec.task_id and not maybe_sent:
                if job.rec.state in FINISHED:
                    return
                commit = table.apply(job, JobState.CANCELED, phase="Canceled — nothing was sent to Meshy",
                                     stop_reason="cancel")
            else:
                table.claim(job)
                commit = table.apply(job, phase="Deleting on Meshy…", persist=False, force=True,
                                     stop_reason="delete")
        table.commit(job, commit)
        self._workers.discard(job_id)
        self._converters.discard(job_id)
        if job.stop_reason == "delete":
            self._control.put(("delete", job_id))
        else:
            table.release_if_idle(job)

    def remove(self, job_id: str) -> None:
        """Forget the job in the list: record archived, files kept (an active job is canceled first)."""
        if self._table.remove(job_id) is not None:
            self._workers.discard(job_id)
            self._converters.discard(job_id)

    def resubmit(self, job_id: str) -> str:
        """A new job from the saved inputs of an unknown/error/failed (canceled, expired) job."""
        self._check_open()
        old = self._table.get(job_id).rec
        if old.unreconciled:
            raise JobError(_STILL_CHECKING)
        if JobState(old.state) not in RESUBMITTABLE:
            raise JobError(f"Only failed, unknown, canceled, expired or error jobs can be submitted "
                           f"again (this one is {old.state})")
        has_url = bool(old.options.get("image_url") or old.options.get("image_urls"))
        if not (old.input_files or old.input_task_id or has_url):
            raise JobError("This job has no saved inputs to submit again (it was imported from Meshy)")
        missing = inputs.missing(old)
        if missing:
            raise JobError(f"The saved inputs of this job are missing from {old.folder}: {', '.join(missing)}")
        new_id = uuid.uuid4().hex
        now = time.time()
        rec = JobRecord(
            id=new_id, kind=old.kind, label=old.label, phase="Preparing", input_task_id=old.input_task_id,
            options=dict(old.options), option_files=dict(old.option_files), input_names=list(old.input_names),
            input_files=list(old.input_files), input_mimes=list(old.input_mimes),
            folder=str(F.job_folder(self._library_dir, old.label, new_id)), blend_file=old.blend_file,
            target=dict(old.target), credits=old.credits, created_at=now, updated_at=now,
            source="resubmit", resubmitted_from=old.id, copy_from=old.folder, lineage=dict(old.lineage),
        )
        rec.set_state(JobState.PREPARING, now)
        self._table.adopt(rec)
        self._control.put(("prep", new_id))
        return new_id

    def retry_download(self, job_id: str) -> None:
        """Carry on after an error in watching/downloading/importing, or import a finished job again."""
        self._check_open()
        table = self._table
        job = table.get(job_id)
        with table.lock:
            rec = job.rec
            if rec.state in {JobState.FAILED, JobState.UNKNOWN} or (
                rec.state in ACTIVE and rec.state not in {JobState.READY}
            ):
                raise JobError(f"Nothing to retry for a job that is {rec.state}")
            on_disk = inputs.model_on_disk(rec)
            if rec.unreconciled and not rec.task_id:
                raise JobError(_STILL_CHECKING)
            if not rec.task_id and not on_disk:
                raise JobError("This job never reached Meshy; use Submit again")
            table.claim(job)
            if job.stop.is_set() and job.stop_reason != "shutdown":
                table.unfreeze(job)
            job.reset_counts()
            ready = on_disk and bool(rec.files.get("model"))
            convert = ready and self._needs_conversion(rec)
            if convert:
                ready = False
                commit = table.apply(job, JobState.CONVERTING, phase="Converting", error="",
                                     progress=convert_worker.CONVERT_FROM)
            elif ready:
                commit = table.apply(job, JobState.READY, phase="Ready to import", error="", progress=1.0)
            else:
                commit = table.apply(job, JobState.PENDING, phase="Checking Meshy", error="", progress=0.0)
        table.commit(job, commit, ready=ready)
        if convert:
            self._converters.put(job_id)
        elif not ready:
            self._workers.put(job_id)

    def _needs_conversion(self, rec: JobRecord) -> bool:
        """A converter is configured and the folder has no complete model.blend yet."""
        if self.settings.converter is None:
            return False
        try:
            converter.finished_blend(rec.folder)
        except converter.BlendNotReady:
            return True
        return False

    def recover(self) -> list[str]:
        """Load the journal and carry on every unfinished job this process can claim."""
        self._check_open()
        carried = []
        for rec in self.journal.load_all():
            if self._table.contains(rec.id):
                continue
            if rec.state not in ACTIVE and not rec.unreconciled:
                self._table.adopt(rec, lock=None, write=False)
                continue
            lock = self.journal.lock(rec.id)
            if lock is None:
                continue  # another live process works on it
            fresh = self.journal.read(rec.id)  # it may have moved on before we got the lock
            if fresh is None:
                lock.release()
                continue
            if fresh.state not in ACTIVE and fresh.unreconciled:  # canceled while submitting: look for its task
                self._table.adopt(fresh, lock=lock, write=False)
                self._control.put(("reconcile", fresh.id))
                continue
            if fresh.state not in ACTIVE:
                lock.release()
                self._table.adopt(fresh, lock=None, write=False)
                continue
            job = self._table.adopt(fresh, lock=lock, write=False)
            carried.append(fresh.id)
            self._resume(job)
        return carried

    def has_active(self) -> bool:
        return self._table.has_active()

    def stats(self) -> dict[str, int]:
        return self._table.stats()

    # ================================================================ library rebuild (main thread)
    def rebuild_library(self, *, automatic: bool = False) -> rebuild.Rebuild:
        """Convert every finished job folder that has a model.glb and no complete model.blend (version
        0.1's library), in the background on the conversion threads; returns the run (progress, wait).

        A run under way is returned as it is (an explicit call after an automatic run that is over
        starts a new one that also tries the folders a converter failed on). Never touches the network.
        """
        self._check_open()
        current = self._rebuild
        if current is not None and not current.done:
            return current
        run = rebuild.Rebuild(automatic=automatic)
        self._rebuild = run
        if self.settings.converter is None:
            run.ensure_planned(lambda: ([], [], 0))
            run.stop("No converter runs here (models are imported inside this Blender), so nothing is rebuilt.")
            return run
        for n in range(self._max_conversions):
            self._converters.put(("rebuild", n))
        return run

    def rebuild_status(self) -> rebuild.Rebuild | None:
        """The latest rebuild run (None: none started in this session)."""
        return self._rebuild

    # ================================================================ account look-ups (main thread)
    def look_up(self, what: str) -> bool:
        """Ask Meshy for the account's ``balance`` or ``history`` on an I/O thread; the answer comes as
        an AccountEvent from poll_events(). False when that look-up is already under way."""
        self._check_open()
        if what not in account.LOOKUPS:
            raise ValueError(f"unknown account look-up {what!r} (one of {', '.join(account.LOOKUPS)})")
        if what in self._lookups:
            return False
        self._lookups.add(what)
        self._control.put(("lookup", what))
        return True

    def looking_up(self, what: str | None = None) -> bool:
        """A look-up (this one, or any) whose answer has not come out of poll_events() yet."""
        return bool(self._lookups) if what is None else what in self._lookups

    # ================================================================ lifetime
    def shutdown(self, wait: bool = False) -> None:
        """Stop all threads; the journal keeps every job for recover() in the next session."""
        table = self._table
        with table.lock:
            table.closed.set()
            jobs = table.all()
            for job in jobs:
                if not job.stop.is_set():
                    job.stop_reason = "shutdown"
                    job.stop.set()
        self._workers.shutdown(wait=wait, timeout=_SHUTDOWN_JOIN)
        self._control.shutdown(wait=wait, timeout=_SHUTDOWN_JOIN)
        if self._rebuild is not None:
            self._rebuild.cancel.set()  # kills the rebuild's converters (the next start carries on)
            self._rebuild.stop("Blender was closed; the rebuild carries on at the next start.")
        self._converters.shutdown(wait=wait, timeout=_SHUTDOWN_JOIN)  # the job's stop signal kills each child
        self._lookups.clear()
        for job in jobs:
            table.release_if_idle(job)

    def threads(self) -> list[threading.Thread]:
        """Live worker threads (for tests and diagnostics)."""
        return self._workers.threads() + self._control.threads() + self._converters.threads()

    def _check_open(self) -> None:
        if self._table.closed.is_set():
            raise EngineClosed()
