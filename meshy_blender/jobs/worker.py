"""What a worker thread does with one job: create, reconcile, watch, download (then convert_worker).

A Runner moves its job forward state by state until it is finished, waits for the main
thread (ready), or must wait (full queue, network down): then run() returns a delay and
the scheduler hands the thread to another job. Every state change is journaled by the
table before the next network call, so a crash at any line resumes from the record.
A Runner sees its engine only through the WorkerContext (table, create turns, settings,
client factory). The Meshy client is imported here, lazily: importing the engine pulls in no
network code.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..meshy.errors import user_message_of as _message
from . import files as F
from . import followup, inputs
from .context import WorkerContext
from .convert_worker import CONVERT_FROM
from .live import LiveJob
from .reconcile import find_task
from .settings import backoff
from .states import JobState

log = logging.getLogger(__name__)
S = JobState

UNKNOWN_MESSAGE = (
    "Meshy has no record of this submission — press Submit again to retry on purpose"
)

DELETED_MESSAGE = "This task no longer exists on Meshy (it was deleted on the server or has expired)."
EXPIRED_MESSAGE = (
    "Meshy's download links for this task have expired (they last 3 days), so the model cannot be "
    "downloaded any more. Submit the images again to make a new one."
)


PROGRESS_INTERVAL = 0.1  # seconds between download progress updates
GENERATION_SHARE = 0.9  # one bar that only rises: generation fills 0-90 %, the downloads the rest


class Runner:
    def __init__(self, ctx: WorkerContext, job: LiveJob):
        from ..meshy import errors

        self.table = ctx.table
        self.turns = ctx.turns
        self.settings = ctx.settings
        self.client_factory = ctx.client_factory
        self.job = job
        self.E = errors
        self.client: Any = None

    # ------------------------------------------------------------------------------ main loop
    def run(self) -> float | None:
        E, job = self.E, self.job
        try:
            self.client = self.client_factory()
        except E.MeshyError as exc:
            return self._fail(_message(exc))
        try:
            while not job.stop.is_set():
                state = S(job.rec.state)
                try:
                    if state in (S.PREPARING, S.QUEUED):
                        delay = self.create()
                    elif state == S.SUBMITTING:
                        delay = self.reconcile()
                    elif state in (S.PENDING, S.IN_PROGRESS):
                        delay = self.watch()
                    elif state in (S.SUCCEEDED, S.DOWNLOADING):
                        delay = self.download()
                    else:
                        return None  # ready or finished: nothing for a worker
                except E.CancelledError:
                    return None
                except E.NotFoundError:
                    return self._fail(DELETED_MESSAGE, phase="Not found on Meshy")
                except (E.NetworkError, E.ServerError, E.RateLimitError, E.StreamError) as exc:
                    return self._transient(exc)
                except E.DownloadError as exc:
                    if job.count("download_failures") >= self.settings.max_download_failures:
                        return self._fail(f"{_message(exc)} Press Retry to try again.", phase="Download failed")
                    return self._transient(exc)
                except E.MeshyError as exc:  # auth, credits, bad request: needs the user
                    return self._fail(_message(exc))
                except OSError as exc:
                    return self._fail(
                        f"Cannot write to the model library folder ({job.rec.folder}): "
                        f"{exc.strerror or exc}. Free some space or choose another folder, then press Retry.",
                        phase="Disk error")
                if delay is not None:
                    return delay
            return None
        finally:
            with contextlib.suppress(Exception):
                getattr(self.client, "close", lambda: None)()

    # ------------------------------------------------------------------------------ helpers
    def _change(self, state: S | None = None, **fields: Any) -> bool:
        return self.table.change(self.job, state, **fields)

    def _note(self, **fields: Any) -> None:
        """Progress only: shown, not journaled (the state says where to resume)."""
        self.table.change(self.job, None, persist=False, **fields)

    def _fail(self, message: str, phase: str = "") -> float | None:
        """The job ends in error; returns None ("no retry") so callers can `return self._fail(...)`."""
        self._change(S.ERROR, error=message, phase=phase or f"Error: {message}")
        return None

    def _transient(self, exc: BaseException) -> float:
        """Meshy or the network is unhappy: keep the job, try again later (never fail a paid task)."""
        job, cfg = self.job, self.settings
        delay = backoff(cfg.retry_delay, cfg.retry_max_delay, job.count("retries"))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            delay = max(delay, min(float(retry_after), cfg.retry_max_delay))
        log.info("job %s: %s; retrying in %.1f s", job.rec.id, _message(exc), delay)
        self._note(phase=f"Connection problem — retrying in {delay:.0f} s", error="")
        return delay

    def _folder(self) -> Path:
        return Path(self.job.rec.folder)

    # ------------------------------------------------------------------------------ create
    def _payload(self) -> Any:
        """The options with the saved input files as data URIs (built only now, in the worker)."""
        from ..meshy.options import options_from_dict

        rec = self.job.rec
        if followup.is_followup(rec.kind):
            return followup.payload(rec)
        folder = self._folder()
        mapping = dict(rec.options)
        for key, name in rec.option_files.items():
            mapping[key] = F.data_uri(F.MIME_OF_EXT[name.rsplit(".", 1)[-1]], F.inside(folder, name).read_bytes())
        uris = [F.data_uri(m, F.inside(folder, n).read_bytes()) for n, m in zip(rec.input_files, rec.input_mimes)]
        if uris:
            if rec.kind == "image-to-3d":
                mapping["image_url"] = uris[0]
            else:
                mapping["image_urls"] = uris
        if rec.input_task_id:
            mapping["input_task_id"] = rec.input_task_id
        opts = options_from_dict(rec.kind, mapping)
        opts.validate()
        return opts

    def create(self) -> float | None:
        E, job, rec = self.E, self.job, self.job.rec
        if not inputs.present(rec):
            return self._fail(inputs.INPUTS_LOST_MESSAGE, phase="Inputs missing")
        try:
            opts = self._payload()
        except E.ValidationError as exc:
            return self._fail(_message(exc), phase="Invalid options")
        if followup.is_followup(rec.kind):
            try:
                followup.check_bare_source(self.client, rec, job.stop)
            except E.ValidationError as exc:
                return self._fail(_message(exc), phase="Invalid source")
            except E.CancelledError:
                raise
            except E.MeshyError:
                pass  # not known here (offline, say): the create tells, Meshy checks the source itself
        with self.turns.take(job) as mine:
            return self._create(opts) if mine else None

    def _create(self, opts: Any) -> float | None:
        """The create itself, holding the create turn (see turns.CreateTurns)."""
        E, job, rec = self.E, self.job, self.job.rec
        if job.stop.is_set():
            return None
        # Journaled before the request leaves: a crash from here on is reconciled, never resent.
        try:
            if not self._change(S.SUBMITTING, submitted_at=int(time.time() * 1000), attempts=rec.attempts + 1,
                                phase="Uploading", progress=0.0, error=""):
                return None
        except OSError as exc:
            return self._fail(f"Cannot save the job journal ({self.table.journal.dir}): "
                              f"{exc.strerror or exc}. Nothing was sent to Meshy.", phase="Journal error")
        try:
            task_id = self.client.create(rec.kind, opts)
        except E.QueueFullError as exc:
            cfg = self.settings
            delay = backoff(cfg.queue_full_delay, cfg.queue_full_max_delay, job.count("queue_full"))
            if isinstance(exc.retry_after, int | float):
                delay = max(delay, min(float(exc.retry_after), cfg.queue_full_max_delay))
            self._change(S.QUEUED, phase="Meshy queue full — waiting")
            return delay
        except E.RateLimitError as exc:  # not created; wait like a full queue
            cfg = self.settings
            delay = backoff(cfg.queue_full_delay, cfg.queue_full_max_delay, job.count("queue_full"))
            if isinstance(exc.retry_after, int | float):
                delay = max(delay, float(exc.retry_after))
            self._change(S.QUEUED, phase="Rate limited by Meshy — waiting")
            return delay
        except (E.SubmissionUncertainError, E.ServerError):
            self._note(phase="Checking whether Meshy received the task")
            return self._reconcile()
        except E.CancelledError:
            raise
        except E.NetworkError as exc:  # certainly not sent (the client says so): try again a few times
            tries = job.count("retries")
            if tries > 3 or not exc.retryable:  # a proxy's 407, an untrusted certificate: needs the user
                return self._fail(_message(exc), phase="Cannot reach Meshy")
            delay = backoff(self.settings.retry_delay, self.settings.retry_max_delay, tries)
            self._change(S.QUEUED, phase=f"Cannot reach Meshy — retrying in {delay:.0f} s")
            return delay
        except E.MeshyError as exc:  # rejected (bad request, key, credits): nothing was created
            return self._fail(_message(exc))
        self._adopt_task(task_id)
        return None

    def _adopt_task(self, task_id: str, status: str = "PENDING") -> None:
        """Save the task id even if the user canceled meanwhile: it is a paid task."""
        job = self.job
        job.reset_counts("queue_full", "retries")
        self.table.change(job, None, force=True, task_id=task_id)
        state = S.IN_PROGRESS if status == "IN_PROGRESS" else S.PENDING
        self._change(state, phase="Submitted — waiting for Meshy", progress=0.0)

    # ------------------------------------------------------------------------------ reconcile
    def reconcile(self) -> float | None:
        """Find the task a create may have made (crash or lost answer); never create it again."""
        with self.turns.take(self.job) as mine:
            return self._reconcile() if mine else None

    def _reconcile(self) -> float | None:
        """reconcile(), holding the create turn: no create of ours can land in the window meanwhile."""
        E, job, rec = self.E, self.job, self.job.rec
        if not rec.submitted_at:
            self._change(S.UNKNOWN, error=UNKNOWN_MESSAGE, phase="Unknown — not found on Meshy")
            return None
        delays = self.settings.reconcile_delays
        for attempt in range(len(delays) + 1):
            claimed = self.table.claimed_task_ids(exclude=rec.id)
            try:
                task = find_task(self.client.list_tasks, rec.kind, rec.submitted_at, claimed, rec.options)
            except (E.NetworkError, E.ServerError, E.RateLimitError) as exc:
                # Not knowing is not "not found": keep the record as submitting and look again later.
                delay = self._transient(exc)
                self._note(phase=f"Checking Meshy for the submitted task — retrying in {delay:.0f} s")
                return delay
            if task is not None:
                log.info("job %s: reconciled with task %s", rec.id, task.id)
                self._adopt_task(task.id, task.status)
                return None
            if attempt < len(delays):
                self._note(phase="Checking Meshy for the submitted task")
                if job.stop.wait(delays[attempt]):
                    return None
        self._change(S.UNKNOWN, error=UNKNOWN_MESSAGE, phase="Unknown — not found on Meshy")
        return None

    # ------------------------------------------------------------------------------ watch
    def _on_update(self, task: Any) -> None:
        job = self.job
        job.reset_counts("retries")
        if task.status == "PENDING":
            ahead = task.preceding_tasks
            phase = f"In Meshy's queue ({ahead} ahead)" if ahead else "In Meshy's queue"
            state, progress = S.PENDING, 0.0
        elif task.status == "IN_PROGRESS":
            phase, state = f"Generating {task.progress}%", S.IN_PROGRESS
            progress = GENERATION_SHARE * task.progress / 100.0
        else:
            return
        changed = state.value != job.rec.state
        self.table.change(job, state if changed else None, persist=changed, phase=phase, progress=progress,
                          preceding_tasks=task.preceding_tasks)

    def watch(self) -> float | None:
        rec = self.job.rec
        task = self.client.watch(rec.kind, rec.task_id, on_update=self._on_update, cancel=self.job.stop,
                                 poll_interval=self.settings.poll_interval)
        return self._finished(task)

    def _finished(self, task: Any) -> float | None:
        """Act on a terminal task (from watch or retrieve)."""
        if task.status == "SUCCEEDED":
            self.job.keep_task(task, new_result=True)
            self._change(S.SUCCEEDED, phase="Generated", progress=GENERATION_SHARE, preceding_tasks=0,
                         expires_at=(task.expires_at / 1000.0) if task.expires_at else None,
                         task_created_at=task.created_at or None)
        elif task.status == "FAILED":
            msg = task.error_message or "Meshy could not make a model from this input."
            self._change(S.FAILED, error=msg, phase=f"Failed: {msg}")
        elif task.status == "CANCELED":
            self._change(S.CANCELED, error="The task was canceled on Meshy's server.", phase="Canceled on Meshy")
        else:  # the watch ended without an end state: look again shortly
            return self._transient(self.E.StreamError(None, f"task is still {task.status}"))
        return None

    # ------------------------------------------------------------------------------ download
    def download(self) -> float | None:
        E, job, rec = self.E, self.job, self.job.rec
        task = job.task
        expired = task is not None and task.expires_at and task.expires_at / 1000.0 < time.time() + 60
        if task is None or task.id != rec.task_id or expired or followup.needs_result(rec.kind, task):
            task = self.client.retrieve(rec.kind, rec.task_id, cancel=job.stop)
            job.keep_task(task)
        if task.status != "SUCCEEDED":
            if task.is_terminal:
                return self._finished(task)
            self._change(S.IN_PROGRESS if task.status == "IN_PROGRESS" else S.PENDING, phase="Waiting for Meshy")
            return None
        if not followup.model_url(rec.kind, task):
            return self._fail(followup.no_model_message(rec.kind), phase="No GLB model")
        if rec.state != S.DOWNLOADING and not self._change(S.DOWNLOADING, phase="Downloading",
                                                          progress=GENERATION_SHARE,
                                                          expires_at=task.expires_at / 1000.0 or None):
            return None
        from ..meshy.download import download

        folder = self._folder()
        folder.mkdir(parents=True, exist_ok=True)
        plan = followup.plan(rec.kind, task, self.settings.download_textures)
        files: dict[str, Any] = {}
        textures: dict[str, str] = {}
        clips: dict[str, str] = {}
        for index, (what, url, name) in enumerate(plan):
            dest = F.inside(folder, name)
            if not dest.is_file():
                try:
                    download(url, dest, progress=self._progress_cb(what, index, len(plan)), cancel=job.stop,
                             network=self.client.network)  # the client's proxy and CAs
                except E.LinkExpiredError:
                    if not job.refresh_links_once():  # once: fresh signed URLs from the task itself
                        self._change(S.EXPIRED, error=EXPIRED_MESSAGE, phase="Links expired")
                        return None
                    job.keep_task(self.client.retrieve(rec.kind, rec.task_id, cancel=job.stop))
                    self._note(phase="Download link expired — getting fresh links")
                    return None  # the loop calls download() again with the new task
            if what.startswith("texture:"):
                textures[what.split(":", 1)[1]] = name
            elif what.startswith("clip:"):  # a rig's walking / running clip (jobs/followup.py)
                clips[what.split(":", 1)[1]] = name
            else:
                files[what] = name
        if textures:
            files["textures"] = textures
        if clips:
            files["clips"] = clips
        job.reset_counts("download_failures", "retries")
        if self.settings.converter is not None:  # the engine's conversion threads take it from here
            self.table.change(job, S.CONVERTING, files=files, progress=CONVERT_FROM, phase="Converting", error="")
            return None
        self.table.change(job, S.READY, files=files, progress=1.0, phase="Ready to import", error="",
                          ready=True)
        return None

    def _progress_cb(self, what: str, index: int, count: int) -> Callable[[int, int | None], None]:
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL and done != total:
                return  # the panel needs a few updates a second, not one per chunk
            last[0] = now
            part = done / total if total else 0.0
            if what == "model":
                size = f"{done / 1e6:.1f} / {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                phase = f"Downloading {size}"
            else:
                name = ("thumbnail" if what == "thumbnail" else "clips" if what.startswith("clip:")
                        else "textures" if what.startswith("texture:") else "files")
                phase = f"Downloading {name} ({index + 1}/{count})"
            files_done = min(1.0, (index + min(1.0, part)) / max(1, count))
            end = CONVERT_FROM if self.settings.converter is not None else 1.0  # converting fills the rest
            frac = GENERATION_SHARE + (end - GENERATION_SHARE) * files_done
            self.table.change(self.job, None, persist=False, phase=phase, progress=frac)

        return progress
