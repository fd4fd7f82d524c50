"""JobTable: the jobs of one engine behind one lock; every change journaled, then announced.

Every change to a job goes through ``apply`` (in memory, under the lock, so a snapshot for
``draw()`` is cheap and consistent) and ``commit`` (the journal write, before anyone acts on the
change, then the event for the main thread); ``change`` does both. Once a job is canceled or
removed, workers can no longer change its state, only record facts they learn (``force``: a task
id that just came back). Both the engine and its workers use this table; it knows neither.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from .errors import JobError
from .journal import JobRecord, Journal
from .live import LiveJob
from .locks import FileLock
from .model import AccountEvent, JobEvent, JobView, UploadImage
from .states import ACTIVE, FINISHED, JobState, can_transition

log = logging.getLogger(__name__)

FROZEN = {"cancel", "delete", "remove"}  # stop reasons after which workers may not change the state
MAX_EVENTS = 5000  # nobody draining: drop progress-only events (state changes are always queued)

Event = JobEvent | AccountEvent


class JobTable:
    def __init__(self, journal: Journal, event_interval: float):
        self.journal = journal
        self.event_interval = event_interval
        self.lock = threading.RLock()
        self.closed = threading.Event()  # the engine shut down: locks go once threads let go
        self._jobs: dict[str, LiveJob] = {}
        self._events: queue.Queue[Event] = queue.Queue()

    # ================================================================ reading
    def find(self, job_id: str) -> LiveJob | None:
        with self.lock:
            return self._jobs.get(job_id)

    def get(self, job_id: str) -> LiveJob:
        job = self.find(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r}")
        return job

    def all(self) -> list[LiveJob]:
        with self.lock:
            return list(self._jobs.values())

    def views(self) -> list[JobView]:
        """Snapshots of every job, newest first."""
        with self.lock:
            views = [j.view for j in self._jobs.values() if j.view is not None]
        views.sort(key=lambda v: (v.created, v.id), reverse=True)
        return views

    def active_job_with_task(self, task_id: str) -> str | None:
        with self.lock:
            for job in self._jobs.values():
                if job.rec.task_id == task_id and job.rec.state in ACTIVE:
                    return job.rec.id
        return None

    def has_active(self) -> bool:
        with self.lock:
            return any(j.rec.state in ACTIVE for j in self._jobs.values())

    def stats(self) -> dict[str, int]:
        counts = {s.value: 0 for s in JobState}
        with self.lock:
            for j in self._jobs.values():
                counts[j.rec.state] = counts.get(j.rec.state, 0) + 1
        return counts

    def claimed_task_ids(self, exclude: str) -> set[str]:
        """Task ids that belong to some job (journal, archive, this table) other than ``exclude``."""
        claimed = set(self.journal.claimed_task_ids())
        with self.lock:
            claimed.update(j.rec.task_id for j in self._jobs.values() if j.rec.task_id)
            own = self._jobs.get(exclude)
            if own and own.rec.task_id:
                claimed.discard(own.rec.task_id)
        return claimed

    # ================================================================ events
    def announce(self, event: Event) -> None:
        self._events.put(event)

    def poll(self, max_events: int, timeout: float | None) -> list[Event]:
        """Drain queued events; never blocks unless a timeout is given (then only for the first)."""
        out: list[Event] = []
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

    # ================================================================ changes
    def apply(self, job: LiveJob, state: JobState | str | None = None, *, persist: bool = True,
              force: bool = False, stop_reason: str | None = None, **fields: Any) -> tuple | None:
        """Change the job in memory (under the lock); returns what commit() must write and send."""
        with self.lock:
            if job.stop_reason in FROZEN and not force:
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
            job.view = view_of(rec)
            data = seq = None
            if persist:
                job.seq += 1
                seq, data = job.seq, rec.to_dict()
            urgent = state_changed or "error" in fields or "task_id" in fields
            emit = urgent or (now - job.last_emit >= self.event_interval and self._events.qsize() < MAX_EVENTS)
            if emit:
                job.last_emit = now
            return (seq, data, job.view if emit else None)

    def commit(self, job: LiveJob, commit: tuple | None, ready: bool = False) -> None:
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
            self._events.put(JobEvent(job.rec.id, job.view, True))  # type: ignore[arg-type]  # set when adopted
        elif view is not None:
            self._events.put(JobEvent(job.rec.id, view, False))

    def change(self, job: LiveJob, state: JobState | str | None = None, *, persist: bool = True,
               force: bool = False, ready: bool = False, **fields: Any) -> bool:
        """apply + commit; False when the job no longer takes changes (canceled/removed)."""
        commit = self.apply(job, state, persist=persist, force=force, **fields)
        self.commit(job, commit, ready=ready)
        return commit is not None

    def unfreeze(self, job: LiveJob) -> None:
        """Let the job take changes and work again (after a finished delete, or on Retry)."""
        with self.lock:
            job.stop_reason = None
            job.stop = threading.Event()

    # ================================================================ membership
    def adopt(self, rec: JobRecord, lock: FileLock | bool | None = True, write: bool = True, *,
              images: list[UploadImage] | None = None,
              attachments: dict[str, tuple[str, bytes]] | None = None) -> LiveJob:
        """Add a record (claiming its lock when asked, writing it when asked) and announce it."""
        if lock is True:
            lock = self.journal.lock(rec.id)
            if lock is None:
                raise JobError(f"Job {rec.id} is locked by another Blender process")
        job = LiveJob(rec, lock or None, images=images, attachments=attachments)
        job.view = view_of(rec)
        if write:
            try:
                self.journal.write(rec)
            except BaseException:
                if job.lock:
                    job.lock.release()
                raise
        with self.lock:
            self._jobs[rec.id] = job
        self._events.put(JobEvent(rec.id, job.view, False))
        return job

    def contains(self, job_id: str) -> bool:
        with self.lock:
            return job_id in self._jobs

    def remove(self, job_id: str) -> LiveJob | None:
        """Forget the job: an active one is canceled first; its record goes to the archive (files kept)."""
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            commit = None
            if job.rec.state in ACTIVE:  # workers are frozen from here on (stop reason "cancel")
                commit = self.apply(job, JobState.CANCELED, phase="Removed from the list", stop_reason="cancel")
            del self._jobs[job_id]
        self.commit(job, commit)
        owned = job.lock is not None or self.claim(job, required=False)
        with job.write_lock:
            with self.lock:
                job.stop_reason = "remove"  # any later forced write (a task id) goes to the archive
                job.stop.set()
            if owned:
                try:
                    self.journal.archive(job_id)
                except OSError as exc:
                    log.warning("could not archive job %s: %s", job_id, exc)
        self.release_if_idle(job)
        return job

    # ================================================================ ownership and work
    def claim(self, job: LiveJob, required: bool = True) -> bool:
        """Hold the job's lock (jobs loaded only for display don't); False/raise if another owns it."""
        with self.lock:
            if job.lock is not None:
                return True
            lock = self.journal.lock(job.rec.id)
            if lock is None:
                if required:
                    raise JobError("Another Blender is working on this job right now: use that one, or close it")
                return False
            job.lock = lock
            return True

    def release_if_idle(self, job: LiveJob) -> None:
        """Let go of the job's lock once no thread works it and it needs no more work here."""
        with self.lock:
            if job.lock is None or job.busy:
                return
            if job.stop_reason == "delete" and job.rec.state in ACTIVE:
                return  # the delete still has to run
            if job.rec.unreconciled and not self.closed.is_set():
                return  # the look for its lost task still has to run (remote.reconcile_canceled)
            if job.rec.state in ACTIVE and job.stop_reason is None and not self.closed.is_set():
                return
            lock, job.lock = job.lock, None
            lock.release()  # under the table's lock: a claim() meanwhile would find the file still locked

    def begin_work(self, job_id: str, *, worker: bool, even_if_stopped: bool = False) -> LiveJob | None:
        """Count a thread in on the job (its lock stays meanwhile); None when there is nothing to do."""
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None or (job.stop.is_set() and not even_if_stopped):
                return None
            job.busy += 1
            if worker:
                job.workers += 1
                job.idle.clear()
            return job

    def end_work(self, job: LiveJob, *, worker: bool) -> None:
        with self.lock:
            job.busy -= 1
            if worker:
                job.workers -= 1
                if not job.workers:
                    job.idle.set()
        self.release_if_idle(job)


def view_of(rec: JobRecord) -> JobView:
    """The immutable snapshot of a record that the panel draws (paths made absolute)."""
    folder = Path(rec.folder) if rec.folder else None
    files: dict[str, Any] = {}
    if folder is not None:
        for key, rel in rec.files.items():
            if key in ("textures", "clips") and isinstance(rel, dict):  # map / clip name -> file
                files[key] = {m: str(folder / r) for m, r in rel.items()}
            elif isinstance(rel, str):
                files[key] = str(folder / rel)
    return JobView(
        id=rec.id, label=rec.label, kind=rec.kind, state=JobState(rec.state), phase=rec.phase,
        progress=max(0.0, min(1.0, float(rec.progress or 0.0))), task_id=rec.task_id,
        preceding_tasks=rec.preceding_tasks, error=rec.error, created=rec.created_at,
        updated=rec.updated_at, finished=rec.finished_at, folder=rec.folder, files=files,
        blend_file=rec.blend_file, target=dict(rec.target), objects=list(rec.objects),
        input_names=list(rec.input_names), options=dict(rec.options), credits=rec.credits,
        expires_at=rec.expires_at, lineage=dict(rec.lineage),
    )
