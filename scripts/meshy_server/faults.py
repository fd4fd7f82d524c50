"""Fault injection (counters that decrement as they fire) and the unauthenticated /_control API."""

from __future__ import annotations

import json
import re
import threading

from .errors import ApiError

FAULT_DEFAULTS = {
    "reset_connections": 0,
    "http_5xx": 0,
    "rate_limit": 0,
    "retry_after": 1,
    "queue_full": 0,
    "slow_ms": 0,
    "truncate_downloads": 0,
    "stream_drop_after": None,
    "stream_drops": 0,
    "no_range": False,
    "download_bps": 0,
    "reset_after_send": 0,
    "list_5xx": 0,  # task-list requests answered 503 (a reconcile that cannot look yet)
}


class Faults:
    """The current fault settings; counted faults fire once per unit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = dict(FAULT_DEFAULTS)

    def set(self, **kw) -> dict:
        """Merge fault settings; no arguments clears every fault."""
        with self.lock:
            if not kw:
                self.values = dict(FAULT_DEFAULTS)
                return dict(self.values)
            unknown = set(kw) - set(FAULT_DEFAULTS)
            if unknown:
                raise TypeError(f"unknown fault(s): {', '.join(sorted(unknown))}")
            self.values.update(kw)
            if kw.get("stream_drop_after") is not None and "stream_drops" not in kw:
                self.values["stream_drops"] = max(1, self.values["stream_drops"])
            return dict(self.values)

    def get(self, name: str, default=None):
        with self.lock:
            v = self.values.get(name)
            return default if v is None else v

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.values)

    def take(self, name: str) -> bool:
        """Consume one unit of a counted fault; True if it fires."""
        with self.lock:
            if self.values.get(name, 0) > 0:
                self.values[name] -= 1
                return True
            return False

    def take_stream_drop(self) -> int | None:
        """Events to send before this stream is cut, or None when no drop is due."""
        with self.lock:
            after = self.values.get("stream_drop_after")
            if after is None or self.values.get("stream_drops", 0) <= 0:
                return None
            self.values["stream_drops"] -= 1
            return int(after)


def control(srv, method: str, path: str, body: bytes) -> dict:
    """Answer one /_control request for the MeshyServer srv; returns the JSON reply."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        raise ApiError(400, "Invalid JSON body") from None
    if path == "/_control/stats" and method == "GET":
        return srv.stats()
    if path == "/_control/faults" and method == "GET":
        return srv.faults.snapshot()
    if path == "/_control/faults" and method == "POST":
        try:
            return srv.set_faults(**data)
        except TypeError as e:
            raise ApiError(400, str(e)) from None
    if path == "/_control/reset" and method == "POST":
        srv.reset()
        return {"ok": True}
    m = re.fullmatch(r"/_control/tasks/([^/]+)", path)
    if m and method == "POST":
        try:
            srv.set_task(m.group(1), **data)
        except KeyError:
            raise ApiError(404, "Task not found") from None
        except TypeError as e:
            raise ApiError(400, str(e)) from None
        return {"ok": True}
    raise ApiError(404, "Not found")
