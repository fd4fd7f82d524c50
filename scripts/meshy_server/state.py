"""What the server remembers: accounts and credits, tasks, per-account rate and queue limits, counters."""

from __future__ import annotations

import threading
import time

from .errors import ApiError, mask_key, no_credits, queue_full
from .tasks import IdMaker, Task

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
TEST_KEY_DEFAULT_BALANCE = 1_000_000
ROUTES = ("create", "retrieve", "list", "stream", "delete", "balance", "asset")


class State:
    """Accounts, tasks and counters behind one re-entrant lock (handlers run on many threads)."""

    def __init__(
        self,
        keys: dict | None = None,
        test_key_credits: int | None = None,
        rps_limit: float | None = None,
        queue_limit: int | None = None,
    ):
        self.initial_keys = dict(keys or {})
        self.test_key_credits = test_key_credits
        self.rps_limit = rps_limit
        self.queue_limit = queue_limit
        self.lock = threading.RLock()
        self.ids = IdMaker()
        self.reset()

    def reset(self):
        """No tasks, the initial balances, zero counters."""
        with self.lock:
            self.tasks: dict[str, Task] = {}
            self.balances = dict(self.initial_keys)
            self.rps_windows: dict[str, list[float]] = {}
            self.seq = 0
            self.counters = {
                "creates": 0,
                "creates_by_key": {},
                "requests": 0,
                "requests_by_route": dict.fromkeys(ROUTES, 0),
                "asset_requests_with_auth": 0,
            }

    # ---- accounts and credits

    def valid_key(self, key: str | None) -> bool:
        return key == TEST_KEY or (key is not None and key in self.balances)

    def test_balance(self) -> int:
        return TEST_KEY_DEFAULT_BALANCE if self.test_key_credits is None else self.test_key_credits

    def all_balances(self) -> dict:
        out = dict(self.balances)
        out[TEST_KEY] = self.test_balance()
        return out

    def balance_of(self, key: str) -> int:
        with self.lock:
            self._settle_account(key, time.time())
            return self.test_balance() if key == TEST_KEY else self.balances[key]

    def settle(self, task: Task, now: float):
        """Refund a task's credits once it is FAILED or CANCELED."""
        with self.lock:
            if task.refunded or not task.charged:
                return
            if task.status(now) in ("FAILED", "CANCELED"):
                task.refunded = True
                if task.key in self.balances:
                    self.balances[task.key] += task.charged

    def _settle_account(self, key: str, now: float):
        for t in self.tasks.values():
            if t.key == key:
                self.settle(t, now)

    def _charge(self, key: str, cost: int, now: float) -> int:
        """Credits taken for a new task (the test-mode key is never charged); 402 when short."""
        if key == TEST_KEY:
            if self.test_key_credits is not None and self.test_key_credits < cost:
                raise no_credits(cost, self.test_key_credits)
            return 0
        self._settle_account(key, now)
        if self.balances[key] < cost:
            raise no_credits(cost, self.balances[key])
        self.balances[key] -= cost
        return cost

    # ---- limits

    def check_rps(self, key: str) -> bool:
        """Sliding one-second window per account; True when the request is allowed."""
        if not self.rps_limit:
            return True
        with self.lock:
            now = time.monotonic()
            win = [t for t in self.rps_windows.get(key, []) if now - t < 1.0]
            ok = len(win) < self.rps_limit
            if ok:
                win.append(now)
            self.rps_windows[key] = win
            return ok

    def running(self, key: str, now: float) -> int:
        """Unfinished tasks of one account (what the queue limit counts)."""
        with self.lock:
            return sum(
                1
                for t in self.tasks.values()
                if t.key == key and not t.deleted and t.status(now) in ("PENDING", "IN_PROGRESS")
            )

    # ---- tasks

    def add_task(self, kind: str, key: str, opts: dict, images: list, cost: int, duration: float,
                 expires_seconds: float, fail_type: str | None, forced_queue_full: bool) -> Task:
        """Queue limit, then credits, then the new task; nothing is charged when it is refused."""
        with self.lock:
            now = time.time()
            if forced_queue_full or (self.queue_limit is not None and self.running(key, now) >= self.queue_limit):
                raise queue_full()
            charged = self._charge(key, cost, now)
            self.seq += 1
            task = Task(id=self.ids.new(), kind=kind, key=key, opts=opts, images=images, created=now,
                        duration=duration, cost=cost, charged=charged, seq=self.seq, fail_type=fail_type)
            task.expires_ms = int((now + duration + expires_seconds) * 1000)
            self.tasks[task.id] = task
            self.counters["creates"] += 1
            by = self.counters["creates_by_key"]
            by[mask_key(key)] = by.get(mask_key(key), 0) + 1
            return task

    def get_task(self, kind: str, key: str, task_id: str) -> Task:
        with self.lock:
            t = self.tasks.get(task_id)
            if t is None or t.deleted or t.key != key or t.kind != kind:
                raise ApiError(404, "Task not found")
            return t

    def succeeded_task_of(self, key: str, task_id: str) -> Task | None:
        """The account's task task_id if it SUCCEEDED (input_task_id reuses its image)."""
        with self.lock:
            t = self.tasks.get(task_id)
            ok = t and t.key == key and not t.deleted and t.status(time.time()) == "SUCCEEDED"
            return t if ok else None

    def delete_task(self, kind: str, key: str, task_id: str):
        """Deleting a running task cancels it (and refunds it); the task is then gone for the account."""
        with self.lock:
            t = self.get_task(kind, key, task_id)
            now = time.time()
            if t.status(now) in ("PENDING", "IN_PROGRESS"):
                t.canceled_at = now
                t.overrides.pop("status", None)
            self.settle(t, now)
            t.deleted = True

    def page(self, kind: str, key: str, page_num: int, page_size: int, newest_first: bool) -> list[Task]:
        with self.lock:
            mine = [t for t in self.tasks.values() if t.key == key and t.kind == kind and not t.deleted]
        mine.sort(key=lambda t: t.seq, reverse=newest_first)
        return mine[(page_num - 1) * page_size : page_num * page_size]

    def set_task(self, task_id: str, **fields):
        """Force a task's status/progress/expires_at/task_error/preceding_tasks; None removes a force."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                raise KeyError(task_id)
            for k, v in fields.items():
                if k == "expires_at":
                    task.expires_ms = int(v)
                elif k in ("status", "progress", "task_error", "preceding_tasks"):
                    if v is None:
                        task.overrides.pop(k, None)
                    else:
                        task.overrides[k] = v
                else:
                    raise TypeError(f"cannot set {k}")
            if "status" in fields:
                task.overrides["_forced_at"] = time.time()
            self.settle(task, time.time())

    # ---- counters

    def count_request(self, route: str, with_auth: bool = False):
        with self.lock:
            c = self.counters
            c["requests"] += 1
            c["requests_by_route"][route] = c["requests_by_route"].get(route, 0) + 1
            if with_auth:
                c["asset_requests_with_auth"] += 1

    def stats(self) -> dict:
        with self.lock:
            now = time.time()
            for t in self.tasks.values():
                self.settle(t, now)
            c = self.counters
            return {
                "creates": c["creates"],
                "creates_by_key": dict(c["creates_by_key"]),
                "requests": c["requests"],
                "requests_by_route": dict(c["requests_by_route"]),
                "asset_requests_with_auth": c["asset_requests_with_auth"],
                "tasks": sum(1 for t in self.tasks.values() if not t.deleted),
                "balance": {mask_key(k): v for k, v in self.all_balances().items()},
            }
