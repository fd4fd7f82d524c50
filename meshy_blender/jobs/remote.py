"""Deleting a job's task on Meshy's server, on the engine's I/O thread once the job's worker let go.

The engine has already frozen the job (stop reason "delete"): its worker stops at its next check,
and only this thread may still change the job, with ``force``.
"""

from __future__ import annotations

from contextlib import closing

from ..meshy import errors as E
from .context import WorkerContext
from .live import LiveJob
from .states import ACTIVE, JobState

IDLE_WAIT = 0.2  # seconds between looks at the engine's shutdown while the job's worker winds down


def delete_task(ctx: WorkerContext, job: LiveJob) -> None:
    """DELETE the task; the job ends canceled (an import already made stays), or says why not."""
    table = ctx.table
    while not job.idle.wait(IDLE_WAIT):  # the worker stops at its next check (watch/download honour stop)
        if table.closed.is_set():
            return
    rec = job.rec
    if not rec.task_id:
        table.change(job, JobState.CANCELED, force=True, phase="Canceled — Meshy never received the task")
        return
    try:
        with closing(ctx.client_factory()) as client:
            client.delete(rec.kind, rec.task_id)
    except E.NotFoundError:
        pass  # already gone: that is what the user wanted
    except (E.MeshyError, OSError) as exc:
        table.unfreeze(job)
        table.change(job, JobState.ERROR if rec.state in ACTIVE else None, force=True,
                     phase="Delete failed",
                     error=f"Could not delete the task on Meshy's server: {E.user_message_of(exc)}")
        return
    final = JobState.CANCELED if rec.state in ACTIVE else None
    table.change(job, final, force=True, phase="Deleted on Meshy's server", error="")
    table.unfreeze(job)  # finished now: "import again" of files already on disk stays possible
