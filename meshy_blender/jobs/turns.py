"""Create turns: one create (and its reconcile) per task type at a time, across threads and processes.

Without them a lost create answer could be matched with a neighbour's task created in the same
second. A turn is a thread lock (this process) plus a file lock in the journal's ``locks/`` folder
(other Blenders on the same journal), taken as a context manager:

    with turns.take(job) as mine:
        if not mine:
            return  # the job was stopped while it waited for its turn
        ...create...
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from .live import LiveJob
from .locks import FileLock

THREAD_WAIT = 0.25  # seconds between looks at the job's stop signal while another thread has the turn
PROCESS_WAIT = 0.05  # the same while another process has it


class CreateTurns:
    def __init__(self, locks_dir: Path, kinds: Iterable[str]):
        self._dir = Path(locks_dir)
        self._locks = {kind: threading.Lock() for kind in kinds}

    @contextlib.contextmanager
    def take(self, job: LiveJob, stop: threading.Event | None = None) -> Iterator[bool]:
        """Hold the turn for the job's task type; yields False (holding nothing) if `stop` (default: the
        job's stop signal) was set first."""
        kind = job.rec.kind
        stop = job.stop if stop is None else stop
        tlock = self._locks[kind]
        while not tlock.acquire(timeout=THREAD_WAIT):
            if stop.is_set():
                yield False
                return
        try:
            flock = FileLock(self._dir / f"create-{kind}.lock")
            while not flock.acquire():  # another Blender is submitting: wait for its turn to end
                if stop.wait(PROCESS_WAIT):
                    break
            else:
                try:
                    yield True
                finally:
                    flock.release()
                return
        finally:
            tlock.release()
        yield False
