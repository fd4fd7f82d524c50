"""LiveJob: one job as this process works it (its journal record is the durable half).

Who may change what, so no field has two owners:
- ``rec``, ``view``, ``stop``/``stop_reason``, ``lock`` and the work counts change only inside
  JobTable, under the table's lock (workers ask the table: ``table.change(job, ...)``);
- the retry counters and the latest task belong to the job and sit behind its own small lock:
  workers count with ``count()``, the engine starts afresh with ``reset_counts()``;
- the input images are handed over once, from submit() to the thread that saves them
  (``take_inputs()``).
Everyone may read ``rec`` and ``stop`` without a lock (each read is of one whole attribute).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from .journal import JobRecord
from .locks import FileLock
from .model import JobView, UploadImage

Counter = Literal["retries", "queue_full", "download_failures"]
COUNTERS: tuple[Counter, ...] = ("retries", "queue_full", "download_failures")
# retries: transient failures in a row (network, 5xx, stream); queue_full: 429 NoMoreConcurrentTasks
# in a row; download_failures: failed downloads since the last complete one.

Inputs = tuple[list[UploadImage] | None, dict[str, tuple[str, bytes]]]


class LiveJob:
    """The live half of a job: stop signal, ownership, counters; see the module docstring for who writes what."""

    def __init__(self, rec: JobRecord, lock: FileLock | None, *, images: list[UploadImage] | None = None,
                 attachments: dict[str, tuple[str, bytes]] | None = None):
        # -- guarded by the table's lock --------------------------------------------------------------
        self.rec = rec
        self.lock = lock  # this process's claim on the record (None: listed only, for display)
        self.stop = threading.Event()  # workers check it between steps and pass it to the client
        self.stop_reason: str | None = None  # cancel | delete | remove | shutdown
        self.idle = threading.Event()  # set while no prep/network thread works the job
        self.idle.set()
        self.busy = 0  # threads working on it right now (the lock stays while any do)
        self.workers = 0  # of which prep/network threads
        self.view: JobView | None = None
        # -- journal write order (JobTable.commit) ----------------------------------------------------
        self.write_lock = threading.Lock()
        self.seq = 0
        self.written = 0
        self.last_emit = 0.0
        # -- owned by the job itself, behind its own lock ---------------------------------------------
        self._guard = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._task: Any = None  # the latest full Task (fresh download links)
        self._links_refreshed = False
        self._inputs: Inputs | None = (images, dict(attachments or {})) if images is not None or attachments else None

    @property
    def id(self) -> str:
        return self.rec.id

    # -- counters ------------------------------------------------------------------------------------
    def count(self, counter: Counter) -> int:
        """One more in a row; returns the new count."""
        with self._guard:
            self._counts[counter] += 1
            return self._counts[counter]

    def reset_counts(self, *counters: Counter) -> None:
        """Start these counts afresh (none named: all of them, and download links may be refreshed again)."""
        with self._guard:
            for name in counters or COUNTERS:
                self._counts[name] = 0
            if not counters:
                self._links_refreshed = False

    def counts(self) -> dict[str, int]:
        with self._guard:
            return {str(k): v for k, v in self._counts.items()}

    # -- the latest task -----------------------------------------------------------------------------
    @property
    def task(self) -> Any:
        with self._guard:
            return self._task

    def keep_task(self, task: Any, *, new_result: bool = False) -> None:
        """Remember the task (with its download links); a new result may have its links refreshed once."""
        with self._guard:
            self._task = task
            if new_result:
                self._links_refreshed = False

    def refresh_links_once(self) -> bool:
        """True the first time the links expire for this result (fetch fresh ones); False after that."""
        with self._guard:
            if self._links_refreshed:
                return False
            self._links_refreshed = True
            return True

    # -- inputs --------------------------------------------------------------------------------------
    def take_inputs(self) -> Inputs:
        """The images and option attachments given to submit(), once (later calls get nothing)."""
        with self._guard:
            inputs, self._inputs = self._inputs, None
        return inputs or (None, {})

    def __repr__(self) -> str:
        return f"LiveJob({self.rec.id!r}, {self.rec.state})"
