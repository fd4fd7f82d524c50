"""JobEngine: the jobs of one process, their records, threads and the event queue.

The main thread calls the public methods (all quick: no network, no big writes) and
drains ``poll_events``; worker threads (see worker.py) do the network and disk work.
Every job change goes through ``_change``: applied under one lock (so a snapshot for
``draw()`` is cheap and consistent), written to the journal before anyone acts on it,
then announced as an event. Once a job is canceled or removed, workers can no longer
change its state, only record facts they learn (a task id that just came back).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import files as F
from .journal import JobRecord, Journal, atomic_write
from .locks import FileLock
from .model import JobEvent, JobSpec, JobView
from .scheduler import Scheduler
from .states import ACTIVE, FINISHED, RESUBMITTABLE, JobState, can_transition

log = logging.getLogger(__name__)

IMAGE_TO_3D = "image-to-3d"  # same strings as meshy_blender.meshy (not imported: keep this import light)
MULTI_IMAGE_TO_3D = "multi-image-to-3d"
KINDS = (IMAGE_TO_3D, MULTI_IMAGE_TO_3D)
MAX_ENCODED_BYTES = 100 * 1024 * 1024  # Meshy's limit per image, counted on the base64 text
_PLACEHOLDER = "data:image/png;base64,iVBORw0KGgo="  # stands in for the real images while validating
_FROZEN = {"cancel", "delete", "remove"}  # stop reasons after which workers may not change the state
_SHUTDOWN_JOIN = 15.0
_MAX_EVENTS = 5000  # nobody draining: drop progress-only events (state changes are always queued)

UNKNOWN_MESSAGE = (
    "Meshy has no record of this submission — press Submit again to retry on purpose"
)
INPUTS_LOST_MESSAGE = (
    "The input images of this job were not saved before Blender stopped, so it cannot be sent. "
    "Submit it again from Blender."
)


def _estimate_credits(options: dict[str, Any]) -> int | None:
    from ..meshy.pricing import estimate_credits

    try:
        return estimate_credits(options.get("ai_model"), options.get("should_texture"))
    except Exception:
        return None


class _Job:
    """Live state of one job in this process (the record is its durable half)."""

    def __init__(self, rec: JobRecord, lock: FileLock | None):
        self.rec = rec
        self.lock = lock
        self.stop = threading.Event()
        self.stop_reason: str | None = None  # cancel | delete | remove | shutdown
        self.idle = threading.Event()
        self.idle.set()
        self.busy = 0  # threads working on it right now (the lock stays while any do)
        self.workers = 0  # of which prep/network threads (``idle`` is set when none)
        self.images: list[Any] | None = None  # UploadImage list until saved to the folder
        self.attachments: dict[str, tuple[str, bytes]] = {}  # option -> (mime, bytes) until saved
        self.view: JobView | None = None
        self.write_lock = threading.Lock()
        self.seq = 0
        self.written = 0
        self.last_emit = 0.0
        self.retries = 0  # transient failures in a row (network, 5xx, stream)
        self.queue_full = 0  # 429 NoMoreConcurrentTasks in a row
        self.download_failures = 0
        self.task: Any = None  # the latest full Task (fresh download links)
        self.links_refreshed = False


class JobEngine:
    """Runs Meshy jobs in worker threads; safe to call from Blender's main thread."""

    def __init__(
        self,
        journal_dir: Path,
        library_dir: Path,
        client_factory: Callable[[], Any],
        *,
        max_concurrent: int = 4,
        download_textures: bool = True,
        queue_full_delay: float = 10.0,
        queue_full_max_delay: float = 60.0,
        retry_delay: float = 2.0,
        retry_max_delay: float = 60.0,
        reconcile_delays: tuple[float, ...] = (1.0, 2.0, 4.0),
        max_download_failures: int = 6,
        poll_interval: float = 5.0,
        event_interval: float = 0.1,
    ):
        self.journal = Journal(journal_dir)
        self.library_dir = Path(library_dir)
        self.client_factory = client_factory
        self.max_concurrent = max(1, int(max_concurrent))
        self.download_textures = download_textures
        self.queue_full_delay = queue_full_delay
        self.queue_full_max_delay = queue_full_max_delay
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.reconcile_delays = tuple(reconcile_delays)
        self.max_download_failures = max_download_failures
        self.poll_interval = poll_interval
        self.event_interval = event_interval
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._events: queue.Queue[JobEvent] = queue.Queue()
        self._closed = threading.Event()
        # One create (and its reconcile) per task type at a time, across processes: otherwise a lost
        # answer could be matched with a neighbour's task created in the same second.
        self._create_locks = {kind: threading.Lock() for kind in KINDS}
        self._workers = Scheduler(self.max_concurrent, self._run_network, "meshy-job")
        self._control = Scheduler(2, self._run_control, "meshy-io")

    # ================================================================ public API (main thread)
    def submit(self, spec: JobSpec) -> str:
        """Validate, write the record (state preparing), hand over to the workers; returns the job id.

        Raises the client's ValidationError at once for bad input (nothing is written then),
        and OSError when the journal cannot be written (nothing is sent then).
        """
        self._check_open()
        options, attachments = self._validate(spec)
        job_id = uuid.uuid4().hex
        label = spec.label or (spec.images[0].name if spec.images else "") or spec.input_task_id or spec.kind
        now = time.time()
        rec = JobRecord(
            id=job_id,
            kind=spec.kind,
            label=label,
            phase="Preparing",
            input_task_id=spec.input_task_id,
            options=options,
            option_files={k: F.option_file_name(k, m) for k, (m, _) in attachments.items()},
            input_names=[img.name for img in spec.images],
            input_files=[F.input_file_name(i, img.mime) for i, img in enumerate(spec.images)],
            input_mimes=[img.mime.lower() for img in spec.images],
            folder=str(F.job_folder(self.library_dir, label, job_id)),
            blend_file=spec.blend_file or "",
            target=dict(spec.target or {}),
            credits=_estimate_credits(options),
            created_at=now,
            updated_at=now,
        )
        rec.set_state(JobState.PREPARING, now)
        job = self._adopt(rec)
        job.images = list(spec.images)
        job.attachments = attachments
        self._control.put(("prep", job_id))
        return job_id

    def follow(self, kind: str, task_id: str, label: str = "", blend_file: str = "",
               target: dict | None = None) -> str:
        """Import an existing Meshy task (account history, a known id): watch and download, no create."""
        self._check_open()
        if kind not in KINDS:
            raise self._invalid("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
        if not isinstance(task_id, str) or not task_id.strip() or "/" in task_id or "\\" in task_id:
            raise self._invalid("task_id", f"{task_id!r} is not a Meshy task id")
        task_id = task_id.strip()
        with self._lock:
            for job in self._jobs.values():
                if job.rec.task_id == task_id and job.rec.state in ACTIVE:
                    return job.rec.id
        job_id = uuid.uuid4().hex
        label = label or f"Task {task_id[:8]}"
        now = time.time()
        rec = JobRecord(
            id=job_id, kind=kind, label=label, phase="Checking Meshy", task_id=task_id, source="follow",
            folder=str(F.job_folder(self.library_dir, label, job_id)), blend_file=blend_file or "",
            target=dict(target or {}), created_at=now, updated_at=now,
        )
        rec.set_state(JobState.PENDING, now)
        self._adopt(rec)
        self._workers.put(job_id)
        return job_id

    def poll_events(self, max_events: int = 100, timeout: float | None = None) -> list[JobEvent]:
        """Drain queued events; never blocks unless a timeout is given (then only for the first)."""
        out: list[JobEvent] = []
        if timeout is not None and timeout > 0 and max_events > 0:
            try:
                out.append(self._events.get(timeout=timeout))
            except queue.Empty:
                return out
        while len(out) < max_events:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        return out

    def jobs(self) -> list[JobView]:
        """Snapshots of every job in the list, newest first."""
        with self._lock:
            views = [j.view for j in self._jobs.values() if j.view is not None]
        views.sort(key=lambda v: (v.created, v.id), reverse=True)
        return views

    def get(self, job_id: str) -> JobView | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.view if job else None

    def mark_importing(self, job_id: str) -> None:
        self._change(self._get(job_id), JobState.IMPORTING, phase="Importing", error="")

    def mark_imported(self, job_id: str, objects: list[str], blend_file: str) -> None:
        job = self._get(job_id)
        self._change(job, JobState.IMPORTED, phase="Imported", error="", progress=1.0,
                     objects=list(objects), blend_file=blend_file or job.rec.blend_file)
        self._release_if_idle(job)

    def mark_import_failed(self, job_id: str, message: str) -> None:
        job = self._get(job_id)
        self._change(job, JobState.ERROR, phase=f"Import failed: {message}", error=message)
        self._release_if_idle(job)

    def cancel(self, job_id: str) -> None:
        """Stop following locally; the task keeps running on Meshy and nothing is deleted."""
        job = self._get(job_id)
        with self._lock:
            if job.rec.state in FINISHED:
                return
            remote = bool(job.rec.task_id) or job.rec.state == JobState.SUBMITTING
            phase = "Canceled — the task keeps running on Meshy" if remote else "Canceled"
            commit = self._apply(job, JobState.CANCELED, phase=phase, stop_reason="cancel")
        self._commit(job, commit)
        self._workers.discard(job_id)
        self._release_if_idle(job)

    def delete_remote(self, job_id: str) -> None:
        """Delete the task on Meshy's server (in a worker); the job then ends as canceled."""
        job = self._get(job_id)
        with self._lock:
            if not job.rec.task_id and job.rec.state != JobState.SUBMITTING:
                if job.rec.state in FINISHED:
                    return
                commit = self._apply(job, JobState.CANCELED, phase="Canceled — nothing was sent to Meshy",
                                     stop_reason="cancel")
            else:
                self._claim(job)
                commit = self._apply(job, phase="Deleting on Meshy…", persist=False, force=True,
                                     stop_reason="delete")
        self._commit(job, commit)
        self._workers.discard(job_id)
        if job.stop_reason == "delete":
            self._control.put(("delete", job_id))
        else:
            self._release_if_idle(job)

    def remove(self, job_id: str) -> None:
        """Forget the job in the list: record archived, files kept (an active job is canceled first)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            commit = None
            if job.rec.state in ACTIVE:  # workers are frozen from here on (stop reason "cancel")
                commit = self._apply(job, JobState.CANCELED, phase="Removed from the list", stop_reason="cancel")
            del self._jobs[job_id]
        self._commit(job, commit)
        self._workers.discard(job_id)
        owned = job.lock is not None or self._claim(job, required=False)
        with job.write_lock:
            with self._lock:
                job.stop_reason = "remove"  # any later forced write (a task id) goes to the archive
                job.stop.set()
            if owned:
                try:
                    self.journal.archive(job_id)
                except OSError as exc:
                    log.warning("could not archive job %s: %s", job_id, exc)
        self._release_if_idle(job)

    def resubmit(self, job_id: str) -> str:
        """A new job from the saved inputs of an unknown/error/failed (canceled, expired) job."""
        self._check_open()
        old = self._get(job_id).rec
        if JobState(old.state) not in RESUBMITTABLE:
            raise ValueError(f"Only failed, unknown, canceled, expired or error jobs can be submitted "
                             f"again (this one is {old.state})")
        has_url = bool(old.options.get("image_url") or old.options.get("image_urls"))
        if not (old.input_files or old.input_task_id or has_url):
            raise ValueError("This job has no saved inputs to submit again (it was imported from Meshy)")
        folder = Path(old.folder)
        missing = [n for n in [*old.input_files, *old.option_files.values()] if not (folder / n).is_file()]
        if missing:
            raise ValueError(f"The saved inputs of this job are missing from {folder}: {', '.join(missing)}")
        new_id = uuid.uuid4().hex
        now = time.time()
        rec = JobRecord(
            id=new_id, kind=old.kind, label=old.label, phase="Preparing", input_task_id=old.input_task_id,
            options=dict(old.options), option_files=dict(old.option_files), input_names=list(old.input_names),
            input_files=list(old.input_files), input_mimes=list(old.input_mimes),
            folder=str(F.job_folder(self.library_dir, old.label, new_id)), blend_file=old.blend_file,
            target=dict(old.target), credits=old.credits, created_at=now, updated_at=now,
            source="resubmit", resubmitted_from=old.id, copy_from=old.folder,
        )
        rec.set_state(JobState.PREPARING, now)
        self._adopt(rec)
        self._control.put(("prep", new_id))
        return new_id

    def retry_download(self, job_id: str) -> None:
        """Carry on after an error in watching/downloading/importing, or import a finished job again."""
        self._check_open()
        job = self._get(job_id)
        with self._lock:
            rec = job.rec
            model = Path(rec.folder) / F.MODEL
            if rec.state in {JobState.FAILED, JobState.UNKNOWN} or (
                rec.state in ACTIVE and rec.state not in {JobState.READY}
            ):
                raise ValueError(f"Nothing to retry for a job that is {rec.state}")
            if not rec.task_id and not model.is_file():
                raise ValueError("This job never reached Meshy; use Submit again")
            self._claim(job)
            if job.stop.is_set() and job.stop_reason != "shutdown":
                job.stop = threading.Event()
                job.stop_reason = None
            job.links_refreshed = False
            job.download_failures = job.retries = 0
            if model.is_file() and rec.files.get("model"):
                commit = self._apply(job, JobState.READY, phase="Ready to import", error="", progress=1.0)
                ready = True
            else:
                commit = self._apply(job, JobState.PENDING, phase="Checking Meshy", error="", progress=0.0)
                ready = False
        self._commit(job, commit, ready=ready)
        if not ready:
            self._workers.put(job_id)

    def recover(self) -> list[str]:
        """Load the journal and carry on every unfinished job this process can claim."""
        self._check_open()
        carried = []
        for rec in self.journal.load_all():
            with self._lock:
                if rec.id in self._jobs:
                    continue
            if rec.state not in ACTIVE:
                self._adopt(rec, lock=None, write=False)
                continue
            lock = self.journal.lock(rec.id)
            if lock is None:
                continue  # another live process works on it
            fresh = self.journal.read(rec.id)  # it may have moved on before we got the lock
            if fresh is None:
                lock.release()
                continue
            if fresh.state not in ACTIVE:
                lock.release()
                self._adopt(fresh, lock=None, write=False)
                continue
            job = self._adopt(fresh, lock=lock, write=False)
            carried.append(fresh.id)
            self._resume(job)
        return carried

    def has_active(self) -> bool:
        with self._lock:
            return any(j.rec.state in ACTIVE for j in self._jobs.values())

    def stats(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobState}
        with self._lock:
            for j in self._jobs.values():
                counts[j.rec.state] = counts.get(j.rec.state, 0) + 1
        return counts

    def shutdown(self, wait: bool = False) -> None:
        """Stop all threads; the journal keeps every job for recover() in the next session."""
        with self._lock:
            self._closed.set()
            jobs = list(self._jobs.values())
            for job in jobs:
                if not job.stop.is_set():
                    job.stop_reason = "shutdown"
                    job.stop.set()
        self._workers.shutdown(wait=wait, timeout=_SHUTDOWN_JOIN)
        self._control.shutdown(wait=wait, timeout=_SHUTDOWN_JOIN)
        for job in jobs:
            self._release_if_idle(job)

    def threads(self) -> list[threading.Thread]:
        """Live worker threads (for tests and diagnostics)."""
        return self._workers.threads() + self._control.threads()

    # ================================================================ state changes
    def _apply(self, job: _Job, state: JobState | str | None = None, *, persist: bool = True,
               force: bool = False, stop_reason: str | None = None, **fields) -> tuple | None:
        """Change the job in memory (engine lock held); returns what _commit must write and send."""
        with self._lock:
            if job.stop_reason in _FROZEN and not force:
                return None
            rec = job.rec
            now = time.time()
            state_changed = False
            for key, value in fields.items():
                setattr(rec, key, value)
            if state is not None:
                state = JobState(state)
                if not can_transition(rec.state, state):
                    log.warning("job %s: unexpected transition %s -> %s", rec.id, rec.state, state.value)
                state_changed = state.value != rec.state
                rec.set_state(state, now)
                if state in FINISHED:
                    rec.finished_at = rec.finished_at if not state_changed and rec.finished_at else now
                else:
                    rec.finished_at = None
            rec.updated_at = now
            if stop_reason:
                job.stop_reason = stop_reason
                job.stop.set()
            job.view = self._view(job)
            data = seq = None
            if persist:
                job.seq += 1
                seq, data = job.seq, rec.to_dict()
            urgent = state_changed or "error" in fields or "task_id" in fields
            emit = urgent or (now - job.last_emit >= self.event_interval and self._events.qsize() < _MAX_EVENTS)
            if emit:
                job.last_emit = now
            return (seq, data, job.view if emit else None)

    def _commit(self, job: _Job, commit: tuple | None, ready: bool = False) -> None:
        """Write the record (before anyone acts on the change), then tell the main thread."""
        if commit is None:
            return
        seq, data, view = commit
        if data is not None:
            with job.write_lock:
                if seq > job.written:
                    self.journal.write(data, archived=job.stop_reason == "remove")
                    job.written = seq
        if ready:
            self._events.put(JobEvent(job.rec.id, job.view, True))
        elif view is not None:
            self._events.put(JobEvent(job.rec.id, view, False))

    def _change(self, job: _Job, state: JobState | str | None = None, *, persist: bool = True,
                force: bool = False, ready: bool = False, **fields) -> bool:
        """Apply + commit; False when the job no longer takes changes (canceled/removed)."""
        commit = self._apply(job, state, persist=persist, force=force, **fields)
        self._commit(job, commit, ready=ready)
        return commit is not None

    def _view(self, job: _Job) -> JobView:
        rec = job.rec
        folder = Path(rec.folder) if rec.folder else None
        files: dict[str, Any] = {}
        if folder is not None:
            for key, rel in rec.files.items():
                if key == "textures" and isinstance(rel, dict):
                    files["textures"] = {m: str(folder / r) for m, r in rel.items()}
                elif isinstance(rel, str):
                    files[key] = str(folder / rel)
        return JobView(
            id=rec.id, label=rec.label, kind=rec.kind, state=JobState(rec.state), phase=rec.phase,
            progress=max(0.0, min(1.0, float(rec.progress or 0.0))), task_id=rec.task_id,
            preceding_tasks=rec.preceding_tasks, error=rec.error, created=rec.created_at,
            updated=rec.updated_at, finished=rec.finished_at, folder=rec.folder, files=files,
            blend_file=rec.blend_file, target=dict(rec.target), objects=list(rec.objects),
            input_names=list(rec.input_names), options=dict(rec.options), credits=rec.credits,
            expires_at=rec.expires_at,
        )

    # ================================================================ bookkeeping
    def _adopt(self, rec: JobRecord, lock: FileLock | bool | None = True, write: bool = True) -> _Job:
        """Add a record to this engine (claiming its lock when asked) and announce it."""
        if lock is True:
            lock = self.journal.lock(rec.id)
            if lock is None:
                raise RuntimeError(f"job {rec.id} is locked by another process")
        job = _Job(rec, lock or None)
        job.view = self._view(job)
        if write:
            try:
                self.journal.write(rec)
            except BaseException:
                if job.lock:
                    job.lock.release()
                raise
        with self._lock:
            self._jobs[rec.id] = job
        self._events.put(JobEvent(rec.id, job.view, False))
        return job

    def _get(self, job_id: str) -> _Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        return job

    def _claim(self, job: _Job, required: bool = True) -> bool:
        """Hold the job's lock (jobs loaded only for display don't); False/raise if another owns it."""
        if job.lock is not None:
            return True
        lock = self.journal.lock(job.rec.id)
        if lock is None:
            if required:
                raise RuntimeError("Another Blender is working on this job right now")
            return False
        job.lock = lock
        return True

    def _release_if_idle(self, job: _Job) -> None:
        """Let go of the job's lock once no thread works it and it needs no more work here."""
        with self._lock:
            if job.lock is None or job.busy:
                return
            if job.stop_reason == "delete" and job.rec.state in ACTIVE:
                return  # the delete still has to run
            if job.rec.state in ACTIVE and job.stop_reason is None and not self._closed.is_set():
                return
            lock, job.lock = job.lock, None
        lock.release()

    def _claimed_task_ids(self, exclude: str) -> set[str]:
        claimed = set(self.journal.claimed_task_ids())
        with self._lock:
            claimed.update(j.rec.task_id for j in self._jobs.values() if j.rec.task_id)
            own = self._jobs.get(exclude)
            if own and own.rec.task_id:
                claimed.discard(own.rec.task_id)
        return claimed

    def _begin_create(self, job: _Job) -> FileLock | None:
        """Take the create turn for the job's task type; None if the job was stopped meanwhile."""
        tlock = self._create_locks[job.rec.kind]
        while not tlock.acquire(timeout=0.25):
            if job.stop.is_set():
                return None
        flock = FileLock(self.journal.dir / "locks" / f"create-{job.rec.kind}.lock")
        while not flock.acquire():  # another Blender is submitting: wait for its turn to end
            if job.stop.wait(0.05):
                tlock.release()
                return None
        return flock

    def _end_create(self, job: _Job, flock: FileLock) -> None:
        flock.release()
        self._create_locks[job.rec.kind].release()

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise RuntimeError("the job engine has been shut down")

    def _resume(self, job: _Job) -> None:
        """Carry on a recovered job from the state its record was left in."""
        state = JobState(job.rec.state)
        if state in (JobState.PREPARING, JobState.QUEUED):
            if self._inputs_present(job.rec):
                self._change(job, JobState.QUEUED, phase="Queued")
                self._workers.put(job.rec.id)
            elif job.rec.copy_from:  # a resubmit that stopped while copying: copy again
                self._control.put(("prep", job.rec.id))
            else:
                self._change(job, JobState.ERROR, phase="Inputs lost", error=INPUTS_LOST_MESSAGE)
                self._release_if_idle(job)
        elif state in (JobState.READY, JobState.IMPORTING):
            phase = "Ready to import"
            self._change(job, JobState.READY, phase=phase, ready=True)
        else:
            self._change(job, phase="Resuming", persist=False)
            self._workers.put(job.rec.id)

    @staticmethod
    def _inputs_present(rec: JobRecord) -> bool:
        folder = Path(rec.folder)
        names = [*rec.input_files, *rec.option_files.values()]
        try:
            return all(F.inside(folder, n).is_file() for n in names)
        except (OSError, ValueError):
            return False

    # ================================================================ validation
    @staticmethod
    def _invalid(field: str, rule: str) -> Exception:
        from ..meshy.errors import ValidationError

        return ValidationError(field, rule)

    def _validate(self, spec: JobSpec) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        """Check everything that can be checked without the network; raises ValidationError."""
        from ..meshy.options import options_from_dict

        bad = self._invalid
        if spec.kind not in KINDS:
            raise bad("kind", f"must be one of {', '.join(KINDS)}, not {spec.kind!r}")
        options = dict(spec.options or {})
        attachments: dict[str, tuple[str, bytes]] = {}
        for key, value in list(options.items()):
            if isinstance(value, str) and value[:5].lower() == "data:":
                if key in ("image_url", "image_urls"):
                    raise bad(key, "pass input images as UploadImage, not as data URIs in the options")
                parsed = F.parse_data_uri(value)
                if parsed is None or parsed[0] not in ("image/png", "image/jpeg"):
                    raise bad(key, "must be a data:image/png|jpeg;base64, URI or an http(s) URL")
                attachments[key] = parsed
                del options[key]
        images = list(spec.images or [])
        url, urls = options.get("image_url"), options.get("image_urls")
        if spec.kind == IMAGE_TO_3D:
            if urls:
                raise bad("image_urls", "Image to 3D takes one image; use Multi-Image to 3D for several")
            count = len(images) + bool(spec.input_task_id) + bool(url)
            if count != 1:
                raise bad("images", f"Image to 3D takes exactly one input (one image, or the id of an "
                                    f"earlier image task); {count} given")
        else:
            if spec.input_task_id or url:
                raise bad("input_task_id", "Multi-Image to 3D takes 1 to 4 images, not an input task id")
            if images and urls:
                raise bad("image_urls", "give the images either as files or as URLs, not both")
            n = len(images) or (len(urls) if isinstance(urls, list) else 0)
            if not 1 <= n <= 4:
                raise bad("images", f"Multi-Image to 3D takes 1 to 4 images; {n} given")
        for img in images:
            if (img.mime or "").lower() not in ("image/png", "image/jpeg", "image/jpg"):
                raise bad(img.name, f"is {img.mime or 'of unknown type'}; Meshy takes PNG or JPEG")
            if not img.data:
                raise bad(img.name, "the image is empty (0 bytes)")
            if F.encoded_size(len(img.data)) > MAX_ENCODED_BYTES:
                raise bad(img.name, f"is {len(img.data) / 2**20:.0f} MB; Meshy takes at most 100 MB per "
                                    "image once encoded (about 75 MB of PNG/JPEG). Use a smaller image.")
        for key, (_, data) in attachments.items():
            if F.encoded_size(len(data)) > MAX_ENCODED_BYTES:
                raise bad(key, "the image is over Meshy's 100 MB limit")
        mapping = dict(options)
        mapping.update({k: _PLACEHOLDER for k in attachments})
        if images:
            if spec.kind == IMAGE_TO_3D:
                mapping["image_url"] = _PLACEHOLDER
            else:
                mapping["image_urls"] = [_PLACEHOLDER] * len(images)
        if spec.input_task_id:
            mapping["input_task_id"] = spec.input_task_id
        options_from_dict(spec.kind, mapping).validate()
        return options, attachments

    # ================================================================ thread entry points
    def _run_network(self, job_id: str) -> float | None:
        """Scheduler entry: move one job forward; a number means "try again in that many seconds"."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.stop.is_set():
                return None
            job.busy += 1
            job.workers += 1
            job.idle.clear()
        try:
            from .worker import Runner

            return Runner(self, job).run()
        except Exception as exc:
            log.exception("job %s: unexpected error", job_id)
            self._change(job, JobState.ERROR, phase="Error", error=f"Unexpected error: {exc!r}. Press Retry.")
            return None
        finally:
            self._done_working(job, worker=True)

    def _done_working(self, job: _Job, worker: bool) -> None:
        with self._lock:
            job.busy -= 1
            if worker:
                job.workers -= 1
                if not job.workers:
                    job.idle.set()
        self._release_if_idle(job)

    def _run_control(self, item: tuple[str, str]) -> float | None:
        action, job_id = item
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.busy += 1
            if action == "prep":
                job.workers += 1
                job.idle.clear()
        try:
            if action == "prep":
                self._prepare(job)
            elif action == "delete":
                self._delete(job)
        except Exception as exc:
            log.exception("job %s: %s failed", job_id, action)
            self._change(job, JobState.ERROR, force=True, phase="Error", error=f"Unexpected error: {exc!r}")
        finally:
            self._done_working(job, worker=action == "prep")
        return None

    def _prepare(self, job: _Job) -> None:
        """Save the inputs in the job folder (kept for "submit again"), then queue the job."""
        if job.stop.is_set():
            return
        rec = job.rec
        folder = Path(rec.folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if job.images is not None:
                for name, img in zip(rec.input_files, job.images, strict=True):
                    atomic_write(F.inside(folder, name), img.data)
            for key, (_, data) in job.attachments.items():
                atomic_write(F.inside(folder, rec.option_files[key]), data)
            if rec.copy_from:
                src = Path(rec.copy_from)
                for name in [*rec.input_files, *rec.option_files.values()]:
                    atomic_write(F.inside(folder, name), F.inside(src, name).read_bytes())
        except OSError as exc:
            self._change(job, JobState.ERROR, phase="Cannot save inputs", error=(
                f"Cannot save the input images in the model library ({folder}): {exc.strerror or exc}. "
                "Check that the folder is writable and the disk has space, then submit again."))
            return
        job.images = None
        job.attachments = {}
        busy = self._workers.busy() >= self.max_concurrent
        if self._change(job, JobState.QUEUED, phase="Waiting for a free slot" if busy else "Queued"):
            self._workers.put(rec.id)

    def _delete(self, job: _Job) -> None:
        """DELETE the task on Meshy once the job's worker has let go of it."""
        while not job.idle.wait(0.2):  # the worker stops at its next check (watch/download honour stop)
            if self._closed.is_set():
                return
        rec = job.rec
        if not rec.task_id:
            self._change(job, JobState.CANCELED, force=True, phase="Canceled — Meshy never received the task")
            return
        from ..meshy import errors as E

        client = None
        try:
            client = self.client_factory()
            client.delete(rec.kind, rec.task_id)
        except E.NotFoundError:
            pass  # already gone: that is what the user wanted
        except (E.MeshyError, OSError) as exc:
            msg = getattr(exc, "user_message", "") or str(exc)
            with self._lock:
                job.stop_reason = None
            self._change(job, JobState.ERROR if rec.state in ACTIVE else None, force=True,
                         phase="Delete failed", error=f"Could not delete the task on Meshy's server: {msg}")
            return
        finally:
            with contextlib.suppress(Exception):
                getattr(client, "close", lambda: None)()
        final = JobState.CANCELED if rec.state in ACTIVE else None
        self._change(job, final, force=True, phase="Deleted on Meshy's server", error="")
        with self._lock:  # finished now: "import again" of files already on disk stays possible
            job.stop_reason = None
            job.stop = threading.Event()
