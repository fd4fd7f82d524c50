"""The job engine's thread entry points: what each of its schedulers runs, and resuming a recovered job.

A mixin of JobEngine (engine.py), kept apart so that the engine's public surface reads on its own.
Each entry point counts itself in on the job (``JobTable.begin_work``), hands the job to its worker
module, and turns an unexpected exception into a job error the user can retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import account, convert_worker, converter, inputs, rebuild, remote
from .context import WorkerContext
from .journal import JobRecord, Journal
from .live import LiveJob
from .scheduler import Scheduler
from .settings import EngineSettings
from .states import ACTIVE, JobState
from .table import JobTable
from .worker import Runner

log = logging.getLogger("meshy_blender.jobs.engine")


class EngineThreads:
    """Set up by JobEngine.__init__."""

    settings: EngineSettings
    journal: Journal
    client_factory: Callable[[], Any]
    converter_status: convert_worker.ConverterStatus
    _table: JobTable
    _ctx: WorkerContext
    _workers: Scheduler[str]
    _control: Scheduler[tuple[str, str]]
    _converters: Scheduler[Any]
    _rebuild: rebuild.Rebuild | None
    _library_dir: Path
    _max_concurrent: int

    def _resume(self, job: LiveJob) -> None:
        """Carry on a recovered job from the state its record was left in."""
        state = JobState(job.rec.state)
        change = self._table.change
        if state in (JobState.PREPARING, JobState.QUEUED):
            if inputs.present(job.rec):
                change(job, JobState.QUEUED, phase="Queued")
                self._workers.put(job.rec.id)
            elif job.rec.copy_from:  # a resubmit that stopped while copying: copy again
                self._control.put(("prep", job.rec.id))
            else:
                change(job, JobState.ERROR, phase="Inputs lost", error=inputs.INPUTS_LOST_MESSAGE)
                self._table.release_if_idle(job)
        elif state == JobState.CONVERTING:  # a killed converter left at most a .part file: convert again
            change(job, phase="Converting", persist=False)
            self._converters.put(job.rec.id)
        elif state in (JobState.READY, JobState.IMPORTING):
            change(job, JobState.READY, phase="Ready to import", ready=True)
        else:
            change(job, phase="Resuming", persist=False)
            self._workers.put(job.rec.id)

    def _run_network(self, job_id: str) -> float | None:
        """Scheduler entry: move one job forward; a number means "try again in that many seconds"."""
        job = self._table.begin_work(job_id, worker=True)
        if job is None:
            return None
        try:
            delay = Runner(self._ctx, job).run()
            if job.rec.state == JobState.CONVERTING and not job.stop.is_set():
                self._converters.put(job_id)  # downloaded: a conversion thread takes it from here
            return delay
        except Exception as exc:
            log.exception("job %s: unexpected error", job_id)
            self._table.change(job, JobState.ERROR, phase="Error",
                               error=f"Unexpected error: {exc!r}. Press Retry.")
            return None
        finally:
            self._table.end_work(job, worker=True)

    def _run_convert(self, item: str | tuple[str, int]) -> float | None:
        """Scheduler entry of the conversion threads: model.glb -> model.blend in a background Blender
        (a job id), or a turn of the library rebuild (("rebuild", n))."""
        if isinstance(item, tuple):
            return self._run_rebuild()
        job_id = item
        job = self._table.begin_work(job_id, worker=True)
        if job is None:
            return None
        run = self._rebuild
        if run is not None and run.converting(job.rec.folder):  # Import Again while the rebuild converts it
            self._table.end_work(job, worker=True)
            return rebuild.YIELD_DELAY
        try:
            if job.rec.state == JobState.CONVERTING:
                convert_worker.convert(self._ctx, job, self.converter_status)
        except Exception as exc:
            log.exception("job %s: unexpected error while converting", job_id)
            self._table.change(job, JobState.ERROR, phase="Error", error=f"Unexpected error: {exc!r}. Press Retry.")
        finally:
            self._table.end_work(job, worker=True)
        return None

    def _run_rebuild(self) -> float | None:
        """Convert rebuild folders one after another until none is left, stepping aside (a delay: the
        scheduler runs this turn again later) whenever a job's conversion waits for a thread."""
        run = self._rebuild
        launcher = self.settings.converter
        if run is None or run.done or launcher is None:
            return None
        run.ensure_planned(lambda: rebuild.plan(self._library_dir, self._known_records(), automatic=run.automatic))
        while not self._table.closed.is_set():
            if self._job_conversion_waiting():
                return rebuild.YIELD_DELAY
            item = run.take()
            if item is None:
                return None
            job = self._table.find(item.job_id) if item.job_id else None
            if job is not None and (job.rec.state in ACTIVE or job.workers):  # Import Again: the job converts it
                run.finish(item, None if rebuild.has_blend(item.folder) else "The job converts it itself.")
                continue
            try:
                failure = rebuild.convert_item(item, launcher, self.settings.convert_time_limit,
                                               self.journal.dir / "locks", run.cancel)
            except converter.ConverterUnavailable as exc:
                run.put_back(item)
                run.stop(exc.message)
                return None
            except converter.ConvertFailed:  # stopped: shutdown
                run.put_back(item)
                return None
            except Exception as exc:
                log.exception("rebuild: unexpected error on %s", item.folder)
                failure = f"Unexpected error: {exc!r}"
            run.finish(item, failure)
        return None

    def _job_conversion_waiting(self) -> bool:
        return any(self._converters.is_waiting(job.rec.id) for job in self._table.all()
                   if job.rec.state == JobState.CONVERTING)

    def _known_records(self) -> list[JobRecord]:
        """Every job this engine or its journal knows (live and removed), the table's copy first."""
        with self._table.lock:
            records = {job.rec.id: JobRecord.from_dict(job.rec.to_dict()) for job in self._table.all()}
        for rec in [*self.journal.load_all(), *self.journal.archived()]:
            records.setdefault(rec.id, rec)
        return list(records.values())

    def _run_control(self, item: tuple[str, str]) -> float | None:
        """Scheduler entry of the I/O threads: ("prep" | "delete" | "reconcile", job id) or ("lookup", what)."""
        action, arg = item
        if action == "lookup":
            self._table.announce(account.look_up(arg, self.client_factory))
            return None
        prep = action == "prep"
        job = self._table.begin_work(arg, worker=prep, even_if_stopped=True)
        if job is None:
            return None
        try:
            if prep and inputs.save(self._ctx, job):
                busy = self._workers.busy() >= self._max_concurrent
                if self._table.change(job, JobState.QUEUED, phase="Waiting for a free slot" if busy else "Queued"):
                    self._workers.put(arg)
            elif action == "delete":
                remote.delete_task(self._ctx, job)
            elif action == "reconcile":
                remote.reconcile_canceled(self._ctx, job)
        except Exception as exc:
            log.exception("job %s: %s failed", arg, action)
            self._table.change(job, JobState.ERROR, force=True, phase="Error", error=f"Unexpected error: {exc!r}")
        finally:
            self._table.end_work(job, worker=prep)
        return None
