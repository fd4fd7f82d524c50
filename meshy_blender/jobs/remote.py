"""A stopped job's business with Meshy's server, on the engine's I/O threads once its worker let go.

- Delete: the engine has already frozen the job (stop reason "delete"); its worker stops at its
  next check, and only this thread may still change the job, with ``force``.
- Reconcile a job canceled while its create request was on the wire: the task may exist and
  is paid for, so it is looked for in the account's task list (never created again) and its id
  saved on the canceled job, where Retry follows it. The record says so (``unreconciled``) until
  the answer is known, so a Blender closed meanwhile looks again on its next start.
"""

from __future__ import annotations

import logging
from contextlib import closing

from ..meshy import errors as E
from .context import WorkerContext
from .live import LiveJob
from .reconcile import find_task
from .settings import backoff
from .states import ACTIVE, JobState

log = logging.getLogger(__name__)

IDLE_WAIT = 0.2  # seconds between looks at the engine's shutdown while the job's worker winds down
FOUND_PHASE = "Canceled — the task keeps running on Meshy (press Retry to follow it)"
NOT_SENT_PHASE = "Canceled — Meshy never received the task"
CHECKING_PHASE = "Canceled — checking whether Meshy received the task"


def delete_task(ctx: WorkerContext, job: LiveJob) -> None:
    """DELETE the task; the job ends canceled (an import already made stays), or says why not."""
    table = ctx.table
    while not job.idle.wait(IDLE_WAIT):  # the worker stops at its next check (watch/download honour stop)
        if table.closed.is_set():
            return
    rec = job.rec
    if not rec.task_id and rec.submitted_at:
        done, task_id = _look_for_task(ctx, job)
        if not done:
            return  # the engine closed before Meshy answered: the record still says where things stand
        if task_id:
            table.change(job, None, force=True, task_id=task_id)
    if not rec.task_id:
        table.change(job, JobState.CANCELED, force=True, unreconciled=False, phase=NOT_SENT_PHASE)
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
    table.change(job, final, force=True, phase="Deleted on Meshy's server", error="", unreconciled=False)
    table.unfreeze(job)  # finished now: "import again" of files already on disk stays possible


def reconcile_canceled(ctx: WorkerContext, job: LiveJob) -> None:
    """Find the task of a job canceled while submitting; save its id on the job, or say none was made."""
    while not job.idle.wait(IDLE_WAIT):  # its worker may still be inside the create request
        if ctx.table.closed.is_set():
            return
    if not job.rec.unreconciled or job.stop_reason == "delete":
        return  # answered already, or a delete looks for the task itself (delete_task)
    if job.rec.task_id:  # the create's answer arrived after all, or the worker's own look found it
        ctx.table.change(job, None, force=True, unreconciled=False, phase=FOUND_PHASE)
        return
    done, task_id = _look_for_task(ctx, job)
    if not job.rec.unreconciled or job.stop_reason == "delete":
        return  # a delete found it meanwhile
    if task_id:
        ctx.table.change(job, None, force=True, unreconciled=False, task_id=task_id, phase=FOUND_PHASE)
    elif done:
        ctx.table.change(job, None, force=True, unreconciled=False, phase=NOT_SENT_PHASE)


def _look_for_task(ctx: WorkerContext, job: LiveJob) -> tuple[bool, str | None]:
    """Look for the job's lost task until Meshy answers: (True, its id or None when none was made),
    or (False, None) when the engine closed first. Holds the create turn, as the worker's reconcile does."""
    table, rec, cfg = ctx.table, job.rec, ctx.settings
    failures = 0
    with closing(ctx.client_factory()) as client:
        while True:
            with ctx.turns.take(job, stop=table.closed) as mine:
                if not mine:
                    return False, None
                try:
                    for delay in (*cfg.reconcile_delays, None):
                        claimed = table.claimed_task_ids(exclude=rec.id)
                        task = find_task(client.list_tasks, rec.kind, rec.submitted_at or 0, claimed, rec.options)
                        if task is not None:
                            log.info("job %s (canceled): found its task %s", rec.id, task.id)
                            return True, task.id
                        if delay is None:
                            return True, None  # looked long enough: nothing was created
                        table.change(job, None, force=True, persist=False, phase=CHECKING_PHASE)
                        if table.closed.wait(delay):
                            return False, None
                except (E.NetworkError, E.ServerError, E.RateLimitError) as exc:
                    failures += 1
                    log.info("job %s (canceled): cannot check Meshy yet: %s", rec.id, E.user_message_of(exc))
                except E.MeshyError as exc:  # the key, say: the user must act; looked for again at next start
                    table.change(job, None, force=True, persist=False,
                                 phase=f"{CHECKING_PHASE} — {E.user_message_of(exc)} It is checked again when "
                                 "Blender starts.")
                    return False, None
            wait = backoff(cfg.retry_delay, cfg.retry_max_delay, failures)
            table.change(job, None, force=True, persist=False,
                         phase=f"{CHECKING_PHASE} — cannot reach Meshy, retrying in {wait:.0f} s")
            if table.closed.wait(wait):
                return False, None
