"""A small pool of daemon worker threads that run items when they are due.

At most ``workers`` items run at once (the engine's concurrency limit for network phases);
``resize()`` changes that while running. An item's run may ask to be tried again later (Meshy's
queue is full, the network is down) by returning a delay; it then gives up its thread so other
jobs can move on. Idle workers sleep on a Condition: nothing polls, and shutdown wakes everyone.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)


T = TypeVar("T", bound=Hashable)  # what names one piece of work (a job id, an action tuple)


class Scheduler(Generic[T]):
    def __init__(self, workers: int, run: Callable[[T], float | None], name: str = "meshy-job"):
        self._max = max(1, int(workers))
        self._run = run
        self._name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, T]] = []
        self._due: dict[T, float] = {}  # item -> its live due time (heap entries may be stale)
        self._running: set[T] = set()
        self._again: dict[T, float] = {}  # put() while running: run again after it returns
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._seq = itertools.count()
        self._stopped = False

    # -- public ------------------------------------------------------------------------------------
    def put(self, item: T, delay: float = 0.0) -> None:
        """Run item after delay seconds (sooner if it was already waiting for later)."""
        with self._cond:
            if self._stopped:
                return
            due = time.monotonic() + max(0.0, delay)
            if item in self._running:
                self._again[item] = min(due, self._again.get(item, due))
                return
            if item in self._due and self._due[item] <= due:
                return
            self._push(item, due)

    def discard(self, item: T) -> None:
        """Forget a waiting item (a running one finishes its current run)."""
        with self._cond:
            self._due.pop(item, None)
            self._again.pop(item, None)

    def is_waiting(self, item: T) -> bool:
        with self._cond:
            return item in self._due

    def is_running(self, item: T) -> bool:
        with self._cond:
            return item in self._running

    def busy(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def workers(self) -> int:
        with self._cond:
            return self._max

    def resize(self, workers: int) -> None:
        """At most ``workers`` at once from now on: more start waiting items at once; with fewer, the
        running items finish and the threads over the limit then end."""
        with self._cond:
            self._max = max(1, int(workers))
            self._spawn_if_needed()
            self._cond.notify_all()  # idle threads over the limit wake up to end

    def has_free_worker(self) -> bool:
        with self._cond:
            return len(self._running) + len(self._due) < self._max

    def shutdown(self, wait: bool = False, timeout: float | None = None) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._due.clear()
            self._again.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for t in threads:
                if t is threading.current_thread():
                    continue
                t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def threads(self) -> list[threading.Thread]:
        with self._cond:
            return [t for t in self._threads if t.is_alive()]

    # -- internals ---------------------------------------------------------------------------------
    def _push(self, item: T, due: float) -> None:
        self._due[item] = due
        heapq.heappush(self._heap, (due, next(self._seq), item))
        self._spawn_if_needed()
        self._cond.notify()

    def _spawn_if_needed(self) -> None:
        """One idle worker per waiting item, up to the limit (called with the condition held)."""
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._due) > self._idle and len(self._threads) < self._max:
            t = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True)
            self._threads.append(t)
            self._idle += 1  # counted idle until it takes something
            t.start()

    def _next(self) -> T | None:
        """Wait for a due item (None: stop, or this thread is over the limit). Called with the condition held."""
        while not self._stopped:
            if len(self._threads) > self._max:
                return None
            now = time.monotonic()
            while self._heap:
                due, _, item = self._heap[0]
                if self._due.get(item) != due:  # stale entry (discarded or moved)
                    heapq.heappop(self._heap)
                    continue
                if due <= now:
                    heapq.heappop(self._heap)
                    del self._due[item]
                    return item
                break
            timeout = (self._heap[0][0] - now) if self._heap else None
            self._cond.wait(timeout)
        return None

    def _work(self) -> None:
        me = threading.current_thread()
        with self._cond:
            while True:
                item = self._next()
                if item is None:
                    self._idle -= 1
                    if me in self._threads:  # counted out now, so only the threads over the limit end
                        self._threads.remove(me)
                    return
                self._idle -= 1
                self._running.add(item)
                self._spawn_if_needed()  # others may be waiting behind this one
                self._cond.release()
                delay = None
                try:
                    delay = self._run(item)
                except Exception:  # the run function reports its own errors; never lose the worker
                    log.exception("job worker crashed on %r", item)
                finally:
                    self._cond.acquire()
                self._running.discard(item)
                self._idle += 1
                if not self._stopped:
                    again = self._again.pop(item, None)
                    if delay is not None:
                        due = time.monotonic() + max(0.0, delay)
                        again = due if again is None else min(again, due)
                    if again is not None:
                        self._due[item] = again
                        heapq.heappush(self._heap, (again, next(self._seq), item))
