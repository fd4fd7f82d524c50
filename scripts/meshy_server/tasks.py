"""The task model: one generation task whose status follows from the clock, and its ids."""

from __future__ import annotations

import math
import random
import re
import threading
import time
from dataclasses import dataclass, field

# Image to 3D, Multi-Image to 3D, then the follow-ups (followups.py)
KINDS = ("image-to-3d", "multi-image-to-3d", "remesh", "retexture", "rigging", "animations")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED")
FAIL_RE = re.compile(r"\[fail:([a-z0-9_]+)\]")
FAIL_MESSAGES = {
    "moderation_blocked": "The input was flagged by content moderation (moderation_blocked). "
    "Please try a different image or prompt.",
    "image_too_complex": "The image is too complex to reconstruct (image_too_complex). "
    "Simplify the background or crop the subject.",
    "unsupported_format": "Unsupported image format. Use JPG or PNG only.",
    "image_url_not_accessible": "Image URL not accessible. Make sure the URL is publicly accessible.",
    "internal_error": "Internal server error. Please retry the task.",
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Task:
    """One generation task; its status is computed from the clock, not stored."""

    id: str
    kind: str
    key: str
    opts: dict
    images: list  # [(bytes, mime)]
    created: float
    duration: float
    cost: int
    charged: int
    seq: int
    fail_type: str | None = None
    overrides: dict = field(default_factory=dict)
    deleted: bool = False
    canceled_at: float | None = None
    refunded: bool = False
    files: dict = field(default_factory=dict)  # built output files by name (under files_lock)
    derived: dict = field(default_factory=dict)  # shared inputs of several files, e.g. the alpha mask
    files_lock: threading.Lock = field(default_factory=threading.Lock)
    expires_ms: int = 0

    def state(self, now: float) -> dict:
        """status, progress, preceding_tasks, started/finished (seconds or None) at time now."""
        d = self.duration
        pend = 0.1 * d
        end = 0.5 * d if self.fail_type else d
        el = now - self.created
        if self.canceled_at is not None:
            st = {"status": "CANCELED", "progress": self._progress(self.canceled_at - self.created)}
            st.update(started=self.created + pend, finished=self.canceled_at, preceding=0)
        elif el >= end:
            ok = not self.fail_type
            st = {"status": "SUCCEEDED" if ok else "FAILED", "progress": 100 if ok else 0}
            st.update(started=self.created + pend, finished=self.created + end, preceding=0)
        elif el < pend:
            left = 1.0 - el / pend if pend else 0.0
            st = {"status": "PENDING", "progress": 0, "preceding": math.ceil(3 * left)}
            st.update(started=None, finished=None)
        else:
            st = {"status": "IN_PROGRESS", "progress": self._progress(el), "preceding": 0}
            st.update(started=self.created + pend, finished=None)
        return self._apply_overrides(st, now)

    def status(self, now: float) -> str:
        return self.state(now)["status"]

    def _progress(self, el: float) -> int:
        pend = 0.1 * self.duration
        span = max(1e-9, self.duration - pend)
        return max(0, min(99, int(100 * (el - pend) / span)))

    def _apply_overrides(self, st: dict, now: float) -> dict:
        ov = self.overrides
        if "status" in ov:
            st["status"] = ov["status"]
            terminal = ov["status"] in TERMINAL
            if terminal and st["finished"] is None:
                st["finished"] = ov.get("_forced_at", now)
            if not terminal:
                st["finished"] = None
            if ov["status"] == "SUCCEEDED":
                st["progress"] = 100
            if ov["status"] != "PENDING" and st["started"] is None:
                st["started"] = ov.get("_forced_at", now)
            if ov["status"] == "PENDING":
                st["started"] = None
            else:
                st["preceding"] = 0
        if "progress" in ov:
            st["progress"] = int(ov["progress"])
        if "preceding_tasks" in ov:
            st["preceding"] = int(ov["preceding_tasks"])
        return st

    def error(self, status: str) -> dict:
        if "task_error" in self.overrides:
            return dict(self.overrides["task_error"])
        if status != "FAILED":
            return {"message": ""}
        t = self.fail_type or "internal_error"
        return {"type": t, "code": t, "message": FAIL_MESSAGES.get(t, f"Task failed: {t.replace('_', ' ')}.")}


class IdMaker:
    """k-sortable uuid-like ids: 48-bit ms timestamp, 12-bit sequence, then random bits."""

    def __init__(self):
        self.last = 0
        self.seq = 0
        self.lock = threading.Lock()

    def new(self) -> str:
        with self.lock:
            ms = now_ms()
            if ms <= self.last:
                self.seq += 1
                if self.seq > 0xFFF:
                    self.last += 1
                    self.seq = 0
                ms = self.last
            else:
                self.last, self.seq = ms, 0
            h = f"{ms:012x}7{self.seq:03x}{random.getrandbits(64):016x}"
        h = h[:16] + f"{(int(h[16], 16) & 0x3) | 0x8:x}" + h[17:]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
