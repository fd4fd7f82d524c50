#!/usr/bin/env python3
"""A local HTTP server that behaves like Meshy's Image to 3D / Multi-Image to 3D REST API.

Standard library only. Used by the test-suite (in-process, ``MeshyServer``) and by hand
(``python scripts/meshy_server.py --help``). Tasks progress lazily from the clock; outputs
(GLB with the input photo as texture, OBJ/MTL, STL, 3MF, PNG maps) are built per task from
its own request on first download.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import math
import os
import random
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import meshy_server_assets as assets

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
TEST_KEY_DEFAULT_BALANCE = 1_000_000
KINDS = ("image-to-3d", "multi-image-to-3d")
API_PREFIX = "/openapi/v1/"
MAX_IMAGE_BYTES = 100 * 1024 * 1024
MAX_BODY_BYTES = 150 * 1024 * 1024
ALL_FORMATS = ("glb", "obj", "fbx", "stl", "usdz", "3mf")
DEFAULT_FORMATS = ("glb", "obj", "fbx", "stl", "usdz")
DEFAULT_TRIANGLES = 5000
LOWPOLY_TRIANGLES = 1000
PRE_REMESH_TRIANGLES = 20000
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
}
ROUTES = ("create", "retrieve", "list", "stream", "delete", "balance", "asset")
MIME_BY_EXT = {
    "glb": "model/gltf-binary",
    "obj": "text/plain",
    "mtl": "text/plain",
    "stl": "model/stl",
    "fbx": "application/octet-stream",
    "usdz": "model/vnd.usdz+zip",
    "3mf": "model/3mf",
    "png": "image/png",
    "jpg": "image/jpeg",
}
CREDITS = {("meshy-5", True): 15, ("meshy-5", False): 5, ("meshy-6", True): 30, ("meshy-6", False): 20}
BLOB_BLOCK = random.Random(1234).randbytes(1 << 20)


class ApiError(Exception):
    """An HTTP error answer with a JSON body."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"message": message} if code is None else {"code": code, "message": message}
        self.headers = headers or {}


class Abort(Exception):
    """Unwind a handler after the connection was deliberately dropped."""


def mask_key(key: str | None) -> str:
    """Keys are never logged in full: only their last 4 characters."""
    return "****" + (key or "")[-4:]


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- tasks


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
    files: dict = field(default_factory=dict)
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

    def _progress(self, el: float) -> int:
        pend = 0.1 * self.duration
        span = max(1e-9, self.duration - pend)
        return max(0, min(99, int(100 * (el - pend) / span)))

    def _apply_overrides(self, st: dict, now: float) -> dict:
        ov = self.overrides
        if "status" in ov:
            st["status"] = ov["status"]
            terminal = ov["status"] in ("SUCCEEDED", "FAILED", "CANCELED")
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


# --------------------------------------------------------------------------- validation


def _check_type(body: dict, name: str, typ, tname: str):
    if name not in body or body[name] is None:
        return None
    v = body[name]
    if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise ApiError(400, f"Invalid {name}: must be an integer")
    if not isinstance(v, typ):
        raise ApiError(400, f"Invalid {name}: must be a {tname}")
    return v


def _bool(body, name, default):
    v = _check_type(body, name, bool, "boolean")
    return default if v is None else v


def _str(body, name, default=None):
    v = _check_type(body, name, str, "string")
    return default if v is None else v


def _choice(body, name, choices, default):
    v = _str(body, name, default)
    if v not in choices:
        raise ApiError(400, f"Invalid {name}: must be one of {', '.join(repr(c) for c in choices)}")
    return v


def parse_options(kind: str, body: dict) -> dict:
    """Validate a create body like Meshy does; returns normalized options (images not decoded yet)."""
    o: dict = {}
    model = _str(body, "ai_model", "latest")
    if model == "meshy-4":
        raise ApiError(400, "Invalid ai_model: meshy-4 has been retired; use meshy-5, meshy-6 or latest")
    if model not in ("meshy-5", "meshy-6", "latest"):
        raise ApiError(400, "Invalid ai_model: must be one of 'meshy-5', 'meshy-6', 'latest'")
    o["ai_model"] = model
    six = model != "meshy-5"
    if kind == "image-to-3d":
        o["model_type"] = _choice(body, "model_type", ("standard", "lowpoly"), "standard")
    else:
        o["model_type"] = "standard"
    o["should_texture"] = _bool(body, "should_texture", True)
    o["enable_pbr"] = _bool(body, "enable_pbr", False)
    if o["enable_pbr"] and not o["should_texture"]:
        raise ApiError(400, "Invalid enable_pbr: requires should_texture to be true")
    o["hd_texture"] = _bool(body, "hd_texture", False)
    if o["hd_texture"] and not six:
        raise ApiError(400, "Invalid hd_texture: only supported on meshy-6/latest")
    for name in ("image_enhancement", "remove_lighting"):
        o[name] = _bool(body, name, True)
        if not o[name] and not six:
            raise ApiError(400, f"Invalid {name}: only supported on meshy-6/latest")
    prompt = _str(body, "texture_prompt", "")
    if len(prompt) > 600:
        raise ApiError(400, "Invalid texture_prompt: maximum 600 characters")
    o["texture_prompt"] = prompt
    o["texture_image_url"] = _str(body, "texture_image_url")
    o["should_remesh"] = _bool(body, "should_remesh", not six)
    o["topology"] = _choice(body, "topology", ("quad", "triangle"), "triangle")
    poly = _check_type(body, "target_polycount", int, "integer")
    if poly is not None and not 100 <= poly <= 300000:
        raise ApiError(400, "Invalid target_polycount: must be between 100 and 300,000")
    o["target_polycount"] = 30000 if poly is None else poly
    o["save_pre_remeshed_model"] = _bool(body, "save_pre_remeshed_model", False)
    o["symmetry_mode"] = _choice(body, "symmetry_mode", ("off", "auto", "on"), "auto")
    o["pose_mode"] = _choice(body, "pose_mode", ("", "a-pose", "t-pose"), "")
    o["is_a_t_pose"] = _bool(body, "is_a_t_pose", False)
    o["moderation"] = _bool(body, "moderation", False)
    o["auto_size"] = _bool(body, "auto_size", False)
    o["origin_at"] = _choice(body, "origin_at", ("bottom", "center"), "bottom")
    o["multi_view_thumbnails"] = _bool(body, "multi_view_thumbnails", False)
    o["alpha_thumbnail"] = _bool(body, "alpha_thumbnail", False)
    o["target_formats"] = _formats(body)
    o["webhook_url"] = _str(body, "webhook_url")
    return o


def _formats(body: dict) -> list[str]:
    v = body.get("target_formats")
    if v is None:
        return list(DEFAULT_FORMATS)
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise ApiError(400, "Invalid target_formats: must be a non-empty array of strings")
    bad = [x for x in v if x not in ALL_FORMATS]
    if bad:
        raise ApiError(400, f"Invalid target_formats: unsupported format {bad[0]!r}")
    return [f for f in ALL_FORMATS if f in v]


def decode_data_uri(uri: str, name: str, limit: int = MAX_IMAGE_BYTES) -> tuple[bytes, str]:
    """data:image/png|jpeg|jpg;base64,... -> (bytes, real mime); checks magic bytes and size."""
    head, sep, payload = uri.partition(",")
    m = re.fullmatch(r"data:image/(png|jpeg|jpg);base64", head.strip(), re.IGNORECASE)
    if not sep or not m:
        raise ApiError(400, f"Invalid image format in {name}: use a PNG or JPEG data URI")
    if len(payload) > limit * 4 // 3 + 8:
        raise ApiError(400, f"Image too large in {name}: maximum 100 MB")
    try:
        data = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"Invalid image format in {name}: bad base64 data") from None
    if len(data) > limit:
        raise ApiError(400, f"Image too large in {name}: maximum 100 MB")
    mime = assets.sniff_image(data)
    if mime is None:
        raise ApiError(400, f"Invalid image format in {name}: data is not a PNG or JPEG image")
    return data, mime


# --------------------------------------------------------------------------- server core


class MeshyServer:
    """Meshy-compatible API on 127.0.0.1 with fault injection; see module docstring and --help."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        task_seconds: float = 0.0,
        keys: dict | None = None,
        rps_limit: float | None = None,
        queue_limit: int | None = None,
        expires_seconds: float = 3 * 24 * 3600,
        test_key_credits: int | None = None,
        keepalive_seconds: float = 10.0,
        verbose: bool = False,
        stream_preamble: bool = True,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        ssl_context=None,
        **faults,
    ):
        self.host, self.port = host, port
        self.ssl_context = ssl_context  # an ssl.SSLContext (server side): serve https
        self.task_seconds = float(task_seconds)
        self.initial_keys = dict(keys or {})
        self.rps_limit = rps_limit
        self.queue_limit = queue_limit
        self.expires_seconds = expires_seconds
        self.test_key_credits = test_key_credits
        self.keepalive_seconds = keepalive_seconds
        self.verbose = verbose
        self.stream_preamble = stream_preamble
        self.max_image_bytes = max_image_bytes
        self.secret = os.urandom(16)
        self.lock = threading.RLock()
        self.ids = IdMaker()
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.connections: set = set()
        self.files: dict[str, tuple[bytes, str]] = {}
        self._initial_faults = dict(faults)
        self._reset_state()
        self.set_faults(**faults)

    # ---- lifecycle

    def _reset_state(self):
        with self.lock:
            self.tasks: dict[str, Task] = {}
            self.balances = dict(self.initial_keys)
            self.faults = dict(FAULT_DEFAULTS)
            self.rps_windows: dict[str, list[float]] = {}
            self.seq = 0
            self.counters = {
                "creates": 0,
                "creates_by_key": {},
                "requests": 0,
                "requests_by_route": dict.fromkeys(ROUTES, 0),
                "asset_requests_with_auth": 0,
            }

    def start(self) -> MeshyServer:
        handler = type("BoundHandler", (Handler,), {"srv": self})
        self.httpd = _HTTPServer((self.host, self.port), handler)
        self.port = self.httpd.server_address[1]
        if self.ssl_context is not None:  # handshake in the handler thread (finish_request)
            self.httpd.socket = self.ssl_context.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.stopping.clear()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02})
        self.thread.daemon = True
        self.thread.start()
        return self

    def stop(self):
        if not self.httpd:
            return
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            conns = list(self.connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        if self.thread:
            self.thread.join(5)
        self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    # ---- control API

    def reset(self):
        """Back to the freshly started state: no tasks, initial balances, no faults, zero stats."""
        self._reset_state()

    def set_faults(self, **kw):
        """Merge fault settings; no arguments clears every fault."""
        with self.lock:
            if not kw:
                self.faults = dict(FAULT_DEFAULTS)
                return dict(self.faults)
            unknown = set(kw) - set(FAULT_DEFAULTS)
            if unknown:
                raise TypeError(f"unknown fault(s): {', '.join(sorted(unknown))}")
            self.faults.update(kw)
            if kw.get("stream_drop_after") is not None and "stream_drops" not in kw:
                self.faults["stream_drops"] = max(1, self.faults["stream_drops"])
            return dict(self.faults)

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
            self._settle(task, time.time())

    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Host a file at {url}/files/<name> (e.g. an input image to pass as image_url)."""
        with self.lock:
            self.files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def stats(self) -> dict:
        with self.lock:
            now = time.time()
            for t in self.tasks.values():
                self._settle(t, now)
            c = self.counters
            return {
                "creates": c["creates"],
                "creates_by_key": dict(c["creates_by_key"]),
                "requests": c["requests"],
                "requests_by_route": dict(c["requests_by_route"]),
                "asset_requests_with_auth": c["asset_requests_with_auth"],
                "tasks": sum(1 for t in self.tasks.values() if not t.deleted),
                "balance": {mask_key(k): v for k, v in self._all_balances().items()},
                "faults": dict(self.faults),
            }

    # ---- accounting

    def _all_balances(self) -> dict:
        out = dict(self.balances)
        out[TEST_KEY] = self.test_balance()
        return out

    def test_balance(self) -> int:
        return TEST_KEY_DEFAULT_BALANCE if self.test_key_credits is None else self.test_key_credits

    def balance_of(self, key: str) -> int:
        with self.lock:
            now = time.time()
            for t in self.tasks.values():
                if t.key == key:
                    self._settle(t, now)
            return self.test_balance() if key == TEST_KEY else self.balances[key]

    def _settle(self, task: Task, now: float):
        """Refund a task's credits once it is FAILED or CANCELED (called under the lock)."""
        if task.refunded or not task.charged:
            return
        if task.state(now)["status"] in ("FAILED", "CANCELED"):
            task.refunded = True
            if task.key in self.balances:
                self.balances[task.key] += task.charged

    def valid_key(self, key: str | None) -> bool:
        return key == TEST_KEY or (key is not None and key in self.balances)

    def take_fault(self, name: str) -> bool:
        """Consume one unit of a counted fault; True if it fires."""
        with self.lock:
            if self.faults.get(name, 0) > 0:
                self.faults[name] -= 1
                return True
            return False

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

    # ---- tasks

    def create_task(self, kind: str, key: str, body: dict) -> Task:
        opts = parse_options(kind, body)
        images = self._input_images(kind, key, body)
        if opts["texture_image_url"]:
            self.resolve_image(opts["texture_image_url"], "texture_image_url", key)
        m = re.search(FAIL_RE, opts["texture_prompt"])
        family = "meshy-5" if opts["ai_model"] == "meshy-5" else "meshy-6"
        cost = CREDITS[(family, opts["should_texture"])]
        with self.lock:
            now = time.time()
            if self.take_fault("queue_full"):
                raise _queue_full()
            if self.queue_limit is not None and self._running(key, now) >= self.queue_limit:
                raise _queue_full()
            charged = 0
            if key == TEST_KEY:
                if self.test_key_credits is not None and self.test_key_credits < cost:
                    raise _no_credits(cost, self.test_key_credits)
            else:
                for t in self.tasks.values():
                    if t.key == key:
                        self._settle(t, now)
                if self.balances[key] < cost:
                    raise _no_credits(cost, self.balances[key])
                self.balances[key] -= cost
                charged = cost
            self.seq += 1
            duration = self.task_seconds
            task = Task(
                id=self.ids.new(),
                kind=kind,
                key=key,
                opts=opts,
                images=images,
                created=now,
                duration=duration,
                cost=cost,
                charged=charged,
                seq=self.seq,
                fail_type=m.group(1) if m else None,
            )
            task.expires_ms = int((now + duration + self.expires_seconds) * 1000)
            self.tasks[task.id] = task
            self.counters["creates"] += 1
            by = self.counters["creates_by_key"]
            by[mask_key(key)] = by.get(mask_key(key), 0) + 1
            return task

    def _running(self, key: str, now: float) -> int:
        return sum(
            1
            for t in self.tasks.values()
            if t.key == key and not t.deleted and t.state(now)["status"] in ("PENDING", "IN_PROGRESS")
        )

    def _input_images(self, kind: str, key: str, body: dict) -> list:
        if kind == "multi-image-to-3d":
            urls = body.get("image_urls")
            if urls is None:
                raise ApiError(400, "image_urls is required")
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ApiError(400, "Invalid image_urls: must be an array of strings")
            if not 1 <= len(urls) <= 4:
                raise ApiError(400, "Invalid image count: image_urls must contain between 1 and 4 images")
            return [self.resolve_image(u, f"image_urls[{i}]", key) for i, u in enumerate(urls)]
        url = _str(body, "image_url")
        src = _str(body, "input_task_id")
        if (url is None) == (src is None):
            raise ApiError(400, "Exactly one of image_url or input_task_id is required")
        if url is not None:
            return [self.resolve_image(url, "image_url", key)]
        with self.lock:
            t = self.tasks.get(src)
            ok = t and t.key == key and not t.deleted and t.state(time.time())["status"] == "SUCCEEDED"
        if not ok:
            raise ApiError(400, "Invalid input_task_id: task not found or not SUCCEEDED")
        return [t.images[0]]

    def resolve_image(self, url: str, name: str, key: str) -> tuple[bytes, str]:
        """Data URIs are decoded; http(s) URLs only resolve when they point at this server."""
        if url.startswith("data:"):
            return decode_data_uri(url, name, self.max_image_bytes)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ApiError(400, f"Invalid image format in {name}: must be an http(s) URL or a data URI")
        data = self._local_fetch(parts)
        if data is None:
            raise ApiError(400, f"Unreachable URL in {name}: the image could not be downloaded")
        if len(data) > self.max_image_bytes:
            raise ApiError(400, f"Image too large in {name}: maximum 100 MB")
        mime = assets.sniff_image(data)
        if mime is None:
            raise ApiError(400, f"Invalid image format in {name}: not a PNG or JPEG image")
        return data, mime

    def _local_fetch(self, parts) -> bytes | None:
        local_hosts = {"127.0.0.1", "localhost", self.host}
        if parts.hostname not in local_hosts or (parts.port or 80) != self.port:
            return None
        path = unquote(parts.path)
        if path.startswith("/files/"):
            f = self.files.get(path[len("/files/") :])
            return f[0] if f else None
        m = re.fullmatch(r"/assets/([^/]+)/([^/]+)", path)
        if m:
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                task = self.asset_task(m.group(1), m.group(2), q.get("Expires", ""), q.get("Signature", ""))
                return self.asset_bytes(task, m.group(2))
            except ApiError:
                return None
        return None

    def get_task(self, kind: str, key: str, task_id: str) -> Task:
        with self.lock:
            t = self.tasks.get(task_id)
            if t is None or t.deleted or t.key != key or t.kind != kind:
                raise ApiError(404, "Task not found")
            return t

    def delete_task(self, kind: str, key: str, task_id: str):
        with self.lock:
            t = self.get_task(kind, key, task_id)
            now = time.time()
            if t.state(now)["status"] in ("PENDING", "IN_PROGRESS"):
                t.canceled_at = now
                t.overrides.pop("status", None)
            self._settle(t, now)
            t.deleted = True

    def list_tasks(self, kind: str, key: str, query: dict) -> list[dict]:
        page_num = _int_param(query, "page_num", 1)
        page_size = _int_param(query, "page_size", 10)
        if page_num < 1:
            raise ApiError(400, "Invalid page_num: must be >= 1")
        if not 1 <= page_size <= 50:
            raise ApiError(400, "Invalid page_size: must be between 1 and 50")
        sort_by = query.get("sort_by", "-created_at").strip()
        if sort_by not in ("created_at", "+created_at", "-created_at"):
            raise ApiError(400, "Invalid sort_by: use +created_at or -created_at")
        with self.lock:
            mine = [t for t in self.tasks.values() if t.key == key and t.kind == kind and not t.deleted]
        mine.sort(key=lambda t: t.seq, reverse=sort_by.startswith("-"))
        page = mine[(page_num - 1) * page_size : page_num * page_size]
        return [self.task_json(t) for t in page]

    # ---- task JSON

    def asset_url(self, task: Task, filename: str) -> str:
        exp = task.expires_ms
        sig = self._sign(task.id, filename, exp)
        return f"{self.url}/assets/{task.id}/{filename}?" + urlencode({"Expires": exp, "Signature": sig})

    def _sign(self, task_id: str, filename: str, exp) -> str:
        msg = f"{task_id}/{filename}?Expires={exp}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

    def task_json(self, task: Task, brief: bool = False) -> dict:
        """The task object; brief = the progress-only shape streamed while running."""
        with self.lock:
            now = time.time()
            self._settle(task, now)
            st = task.state(now)
        status = st["status"]
        if brief:
            return {
                "id": task.id,
                "progress": st["progress"],
                "status": status,
                "preceding_tasks": st["preceding"],
            }
        ok = status == "SUCCEEDED"
        o = task.opts
        out: dict = {"id": task.id, "type": task.kind, "model_urls": {}}
        if ok:
            out["model_urls"] = {k: self.asset_url(task, f) for k, f in output_files(task).items()}
            if "glb" in out["model_urls"]:
                out["model_url"] = out["model_urls"]["glb"]
        out["thumbnail_url"] = self.asset_url(task, "preview.png") if ok else ""
        if ok and o["multi_view_thumbnails"]:
            out["thumbnail_urls"] = {
                v: self.asset_url(task, f"thumbnail_{v}.png") for v in ("front", "right", "back", "left")
            }
        if ok and o["alpha_thumbnail"]:
            out["alpha_thumbnail_url"] = self.asset_url(task, "alpha_thumbnail.png")
        out["texture_prompt"] = o["texture_prompt"]
        if o["texture_image_url"]:
            out["texture_image_url"] = o["texture_image_url"] if len(o["texture_image_url"]) < 2048 else ""
        out["progress"] = st["progress"]
        out["started_at"] = int(st["started"] * 1000) if st["started"] is not None else 0
        out["created_at"] = int(task.created * 1000)
        out["expires_at"] = task.expires_ms
        out["finished_at"] = int(st["finished"] * 1000) if st["finished"] is not None else 0
        out["status"] = status
        out["texture_urls"] = [self._texture_urls(task)] if ok and o["should_texture"] else []
        out["preceding_tasks"] = st["preceding"]
        out["task_error"] = task.error(status)
        out["consumed_credits"] = 0 if status in ("FAILED", "CANCELED") else task.cost
        return out

    def _texture_urls(self, task: Task) -> dict:
        names = texture_files(task)
        return {k: self.asset_url(task, f) for k, f in names.items()}

    # ---- assets

    def asset_task(self, task_id: str, filename: str, expires: str, signature: str) -> Task:
        """Check the signed URL; 403 for a bad signature or an expired link, 404 for unknown files."""
        good = self._sign(task_id, filename, expires)
        if not signature or not hmac.compare_digest(good, signature):
            raise ApiError(403, "Signature mismatch: invalid or missing Signature")
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.deleted:
                raise ApiError(404, "Not found")
            try:
                exp = int(expires)
            except ValueError:
                raise ApiError(403, "Request has expired") from None
            if now_ms() > min(exp, task.expires_ms):
                raise ApiError(403, "Request has expired")
            if task.state(time.time())["status"] != "SUCCEEDED":
                raise ApiError(404, "Not found")
        return task

    def asset_bytes(self, task: Task, filename: str) -> bytes:
        """Build (once, cached on the task) and return one output file."""
        with task.files_lock:
            if filename not in task.files:
                if filename not in all_files(task):
                    raise ApiError(404, "Not found")
                task.files[filename] = build_file(task, filename)
            return task.files[filename]


def _queue_full() -> ApiError:
    return ApiError(
        429,
        "NoMoreConcurrentTasks: the number of concurrent unfinished tasks has reached your account limit",
        code="NoMoreConcurrentTasks",
    )


def _no_credits(cost: int, have: int) -> ApiError:
    return ApiError(402, f"Insufficient credits to perform this task: needs {cost}, balance {have}")


def _int_param(query: dict, name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise ApiError(400, f"Invalid {name}: must be an integer") from None


# --------------------------------------------------------------------------- output files


def base_color_name(task: Task) -> str:
    return "texture_0.jpg" if task.images[0][1] == "image/jpeg" else "texture_0.png"


def texture_files(task: Task) -> dict[str, str]:
    o = task.opts
    if not o["should_texture"]:
        return {}
    out = {"base_color": base_color_name(task)}
    if o["enable_pbr"]:
        out.update(
            metallic="texture_0_metallic.png",
            roughness="texture_0_roughness.png",
            normal="texture_0_normal.png",
        )
        if o["ai_model"] != "meshy-5":
            out["emission"] = "texture_0_emission.png"
    return out


def output_files(task: Task) -> dict[str, str]:
    """model_urls keys -> filenames, only for generated formats."""
    o = task.opts
    out = {fmt: f"model.{fmt}" for fmt in o["target_formats"]}
    if "obj" in out and o["should_texture"]:
        out["mtl"] = "model.mtl"
    if o["save_pre_remeshed_model"]:
        out["pre_remeshed_glb"] = "pre_remeshed_model.glb"
    return out


def all_files(task: Task) -> set[str]:
    names = set(output_files(task).values()) | set(texture_files(task).values()) | {"preview.png"}
    if task.opts["multi_view_thumbnails"]:
        names |= {f"thumbnail_{v}.png" for v in ("front", "right", "back", "left")}
    if task.opts["alpha_thumbnail"]:
        names.add("alpha_thumbnail.png")
    return names


def triangle_target(task: Task) -> int:
    o = task.opts
    if o["should_remesh"]:
        return o["target_polycount"]
    return LOWPOLY_TRIANGLES if o["model_type"] == "lowpoly" else DEFAULT_TRIANGLES


def _mesh(task: Task, triangles: int):
    """The pillow mesh with the input photo's aspect; origin_at only matters with auto_size."""
    w, h = assets.image_size(task.images[0][0])
    origin = task.opts["origin_at"] if task.opts["auto_size"] else "center"
    return assets.build_mesh(triangles, w / h, origin)


def _pbr_maps(task: Task) -> dict:
    o = task.opts
    if not (o["should_texture"] and o["enable_pbr"]):
        return {}
    maps = {"metallic_roughness": assets.metallic_roughness_png(), "normal": assets.normal_png()}
    if o["ai_model"] != "meshy-5":
        maps["emission"] = assets.emission_png()
    return maps


def _mtl(task: Task) -> bytes:
    """MTL naming the served texture files (PBR extension keys when enable_pbr)."""
    tex = texture_files(task)
    keys = {"map_Pm": "metallic", "map_Pr": "roughness", "norm": "normal", "map_Ke": "emission"}
    extra = {k: tex[v] for k, v in keys.items() if v in tex}
    return assets.build_mtl(tex.get("base_color"), extra)


def build_file(task: Task, filename: str) -> bytes:
    """Generate one output file from the task's own request."""
    o = task.opts
    img, mime = task.images[0]
    base = (img, mime) if o["should_texture"] else None
    if filename == "model.glb":
        return assets.build_glb(_mesh(task, triangle_target(task)), base, _pbr_maps(task))
    if filename == "pre_remeshed_model.glb":
        return assets.build_glb(_mesh(task, PRE_REMESH_TRIANGLES), base, _pbr_maps(task))
    if filename == "model.obj":
        return assets.build_obj(_mesh(task, triangle_target(task)), "model.mtl" if base else None)
    if filename == "model.mtl":
        return _mtl(task)
    if filename == "model.stl":
        return assets.build_stl(_mesh(task, triangle_target(task)))
    if filename == "model.3mf":
        return assets.build_3mf(_mesh(task, triangle_target(task)))
    if filename in ("model.fbx", "model.usdz"):
        return assets.placeholder(filename.split(".")[1])
    if filename.startswith("texture_0."):
        return img
    makers = {
        "texture_0_metallic.png": assets.metallic_png,
        "texture_0_roughness.png": assets.roughness_png,
        "texture_0_normal.png": assets.normal_png,
        "texture_0_emission.png": assets.emission_png,
    }
    if filename in makers:
        return makers[filename]()
    if filename == "preview.png":
        return assets.thumbnail_png(img[:4096])
    if filename == "alpha_thumbnail.png":
        return assets.thumbnail_png(img[:4096], alpha=True)
    view = filename[len("thumbnail_") : -len(".png")]
    return assets.thumbnail_png(img[:4096], view=view)


def blob_bytes(start: int, end: int) -> bytes:
    """Deterministic bytes [start, end) of the benchmark blob (a repeating 1 MiB random block)."""
    n = len(BLOB_BLOCK)
    out = bytearray()
    pos = start
    while pos < end:
        off = pos % n
        take = min(n - off, end - pos)
        out += BLOB_BLOCK[off : off + take]
        pos += take
    return bytes(out)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    if not m:
        raise ApiError(400, "Invalid size")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """(start, end_exclusive) for 'bytes=N-' / 'bytes=N-M' / 'bytes=-K'; None to serve it all."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        k = int(m.group(2))
        return max(0, total - k), total
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else total
    if start >= total:
        raise ApiError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{total}"})
    return start, min(end, total)


# --------------------------------------------------------------------------- HTTP handler


class _HTTPServer(ThreadingHTTPServer):
    """Daemon handler threads and a deep listen backlog for bursts of parallel clients."""

    daemon_threads = True
    request_queue_size = 128

    def finish_request(self, request, client_address):
        if hasattr(request, "do_handshake"):  # TLS: a client that does not trust us just goes away
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except OSError:
                return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One request; routing by path. `srv` is bound to the owning MeshyServer."""

    srv: MeshyServer
    sent = 0
    drop_after: int | None = None
    protocol_version = "HTTP/1.1"
    server_version = "MeshyLocal/1.0"

    def version_string(self):
        return self.server_version

    # ---- plumbing

    def setup(self):
        super().setup()
        with self.srv.lock:
            self.srv.connections.add(self.connection)

    def finish(self):
        with contextlib.suppress(OSError):
            super().finish()
        with self.srv.lock:
            self.srv.connections.discard(self.connection)

    def log_message(self, format, *args):
        if self.srv.verbose:
            key = mask_key(self._key()) if self._key() else "-"
            sys.stderr.write(f"[meshy_server] {self.address_string()} key={key} {format % args}\n")

    def _key(self) -> str | None:
        auth = self.headers.get("Authorization", "") if hasattr(self, "headers") and self.headers else ""
        return auth[7:].strip() if auth.startswith("Bearer ") else None

    def abort(self, graceful: bool = False):
        """Drop the connection: RST (SO_LINGER 0) unless graceful (FIN after what was sent)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            if graceful:
                self.connection.shutdown(socket.SHUT_WR)
            else:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.rfile.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        raise Abort()

    def send_json(self, status: int, obj, headers: dict | None = None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_empty(self, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413, "Request body too large")
        return self.rfile.read(n) if n else b""

    # ---- entry points

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        try:
            body = self.read_body() if self.command in ("POST", "DELETE") else b""
            self.route(body)
        except Abort:
            pass
        except ApiError as e:
            with contextlib.suppress(OSError):
                self.send_json(e.status, e.body, e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, body: bytes):
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/_control/"):
            return self.control(path, body)
        if path.startswith("/_bench/blob/"):
            return self.bench_blob(path[len("/_bench/blob/") :])
        if path.startswith("/files/"):
            return self.serve_file(unquote(path[len("/files/") :]))
        if path.startswith("/assets/"):
            return self.asset(path, query)
        if path.startswith(API_PREFIX):
            return self.api(path[len(API_PREFIX) :], query, body)
        raise ApiError(404, "Not found")

    def count(self, route: str):
        with self.srv.lock:
            c = self.srv.counters
            c["requests"] += 1
            c["requests_by_route"][route] = c["requests_by_route"].get(route, 0) + 1

    def slow(self):
        ms = self.srv.faults.get("slow_ms") or 0
        if ms > 0:
            time.sleep(ms / 1000)

    # ---- API

    def api(self, rest: str, query: dict, body: bytes):
        segs = [s for s in rest.split("/") if s]
        route, kind, task_id = self._classify(segs)
        self.count(route)
        self.slow()
        srv = self.srv
        if srv.take_fault("reset_connections"):
            self.abort()
        if srv.take_fault("http_5xx"):
            raise ApiError(503, "Service unavailable")
        retry = {"Retry-After": srv.faults.get("retry_after", 1)}
        if srv.take_fault("rate_limit"):
            raise _rate_limited(retry)
        key = self._key()
        if not srv.valid_key(key):
            raise ApiError(401, "Invalid API key")
        if not srv.check_rps(key):
            raise _rate_limited(retry)
        if route == "balance":
            return self.send_json(200, {"balance": srv.balance_of(key)})
        if route == "create":
            return self.create(kind, key, body)
        if route == "list":
            return self.send_json(200, srv.list_tasks(kind, key, query))
        if route == "retrieve":
            return self.send_json(200, srv.task_json(srv.get_task(kind, key, task_id)))
        if route == "delete":
            srv.delete_task(kind, key, task_id)
            return self.send_empty(200)
        if route == "stream":
            return self.stream(kind, key, task_id)
        raise ApiError(404, "Not found")

    def _classify(self, segs: list[str]) -> tuple[str, str | None, str | None]:
        m = self.command
        if segs == ["balance"] and m == "GET":
            return "balance", None, None
        if not segs or segs[0] not in KINDS:
            return "other", None, None
        kind = segs[0]
        if len(segs) == 1:
            return {"POST": "create", "GET": "list"}.get(m, "other"), kind, None
        if len(segs) == 2:
            return {"GET": "retrieve", "DELETE": "delete"}.get(m, "other"), kind, segs[1]
        if len(segs) == 3 and segs[2] == "stream" and m == "GET":
            return "stream", kind, segs[1]
        return "other", kind, None

    def create(self, kind: str, key: str, body: bytes):
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Invalid JSON body") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Invalid request body: expected a JSON object")
        task = self.srv.create_task(kind, key, data)
        if self.srv.take_fault("reset_after_send"):
            self.abort()
        self.send_json(202, {"result": task.id})

    # ---- SSE

    def stream(self, kind: str, key: str, task_id: str):
        srv = self.srv
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if srv.stream_preamble:
            self.chunk(b": meshy local stream\nretry: 1000\n\n")
        try:
            task = srv.get_task(kind, key, task_id)
        except ApiError:
            self.chunk(b'event: error\ndata: {"status_code": 404, "message": "Task not found"}\n\n')
            return self.chunk(b"")
        drop_after = None
        with srv.lock:
            if srv.faults.get("stream_drop_after") is not None and srv.faults.get("stream_drops", 0) > 0:
                srv.faults["stream_drops"] -= 1
                drop_after = int(srv.faults["stream_drop_after"])
        self.stream_loop(task, drop_after)

    def stream_loop(self, task: Task, drop_after: int | None):
        """Send an event on each change, re-send it as keep-alive, end with the full object."""
        srv = self.srv
        self.sent = 0
        self.drop_after = drop_after
        last = None
        last_at = time.monotonic()
        poll = min(0.05, max(0.01, task.duration / 200))
        if task.duration == 0 and not task.overrides and task.canceled_at is None:
            # Instant tasks still show one PENDING event so clients see the transition.
            last = {"id": task.id, "progress": 0, "status": "PENDING", "preceding_tasks": 0}
            self.event(last)
        while not srv.stopping.is_set():
            msg = srv.task_json(task, brief=True)
            if msg["status"] in ("SUCCEEDED", "FAILED", "CANCELED"):
                self.event(srv.task_json(task))
                return self.chunk(b"")
            now = time.monotonic()
            if msg != last or now - last_at >= srv.keepalive_seconds:
                self.event(msg)
                last, last_at = msg, now
                continue
            time.sleep(poll)
        self.abort()

    def event(self, obj: dict):
        """One SSE message; the stream_drop_after fault cuts the stream before event K+1."""
        if self.drop_after is not None and self.sent >= self.drop_after:
            self.abort(graceful=True)
        self.sent += 1
        self.chunk(b"event: message\ndata: " + json.dumps(obj).encode() + b"\n\n")

    def chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ---- assets & files

    def asset(self, path: str, query: dict):
        self.count("asset")
        srv = self.srv
        if self.headers.get("Authorization"):
            with srv.lock:
                srv.counters["asset_requests_with_auth"] += 1
        self.slow()
        if srv.take_fault("reset_connections"):
            self.abort()
        m = re.fullmatch(r"/assets/([^/]+)/([^/]+)", path)
        if not m or self.command not in ("GET", "HEAD"):
            raise ApiError(404, "Not found")
        task_id, filename = m.group(1), unquote(m.group(2))
        task = srv.asset_task(task_id, filename, query.get("Expires", ""), query.get("Signature", ""))
        data = srv.asset_bytes(task, filename)
        ext = filename.rsplit(".", 1)[-1]
        etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
        self.send_bytes(
            data, MIME_BY_EXT.get(ext, "application/octet-stream"), etag, faults=True, name=filename
        )

    def serve_file(self, name: str):
        self.count("files")
        f = self.srv.files.get(name)
        if f is None:
            raise ApiError(404, "Not found")
        self.send_bytes(f[0], f[1], None, faults=False)

    def send_bytes(self, data: bytes, ctype: str, etag: str | None, faults: bool, name: str = ""):
        """Body with Range support; faults: no_range, truncate_downloads, download_bps."""
        srv = self.srv
        total = len(data)
        ranged = not (faults and srv.faults.get("no_range"))
        rng = parse_range(self.headers.get("Range"), total) if ranged else None
        if rng and self.headers.get("If-Range") and etag and self.headers.get("If-Range") != etag:
            rng = None
        start, end = rng or (0, total)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start))
        if ranged:
            self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
        if etag:
            self.send_header("ETag", etag)
        if name:
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.end_headers()
        if self.command == "HEAD":
            return
        truncate = faults and srv.take_fault("truncate_downloads")
        stop = start + (end - start) // 2 if truncate else end
        bps = (srv.faults.get("download_bps") or 0) if faults else 0
        self.write_paced(lambda a, b: data[a:b], start, stop, bps)
        if truncate:
            self.abort(graceful=True)

    def write_paced(self, get, start: int, stop: int, bps: int):
        """Write [start, stop) in chunks, optionally throttled to bps bytes/second."""
        step = max(1024, min(256 * 1024, bps // 20)) if bps else 256 * 1024
        t0 = time.monotonic()
        pos = start
        while pos < stop:
            if self.srv.stopping.is_set():
                return self.abort()
            nxt = min(stop, pos + step)
            self.wfile.write(get(pos, nxt))
            pos = nxt
            if bps:
                ahead = (pos - start) / bps - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def bench_blob(self, size_text: str):
        self.count("bench")
        total = parse_size(size_text)
        rng = parse_range(self.headers.get("Range"), total)
        start, end = rng or (0, total)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
        self.end_headers()
        if self.command != "HEAD":
            self.write_paced(blob_bytes, start, end, 0)

    # ---- control

    def control(self, path: str, body: bytes):
        srv = self.srv
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise ApiError(400, "Invalid JSON body") from None
        if path == "/_control/stats" and self.command == "GET":
            return self.send_json(200, srv.stats())
        if path == "/_control/faults" and self.command == "GET":
            return self.send_json(200, dict(srv.faults))
        if path == "/_control/faults" and self.command == "POST":
            try:
                return self.send_json(200, srv.set_faults(**data))
            except TypeError as e:
                raise ApiError(400, str(e)) from None
        if path == "/_control/reset" and self.command == "POST":
            srv.reset()
            return self.send_json(200, {"ok": True})
        m = re.fullmatch(r"/_control/tasks/([^/]+)", path)
        if m and self.command == "POST":
            try:
                srv.set_task(m.group(1), **data)
            except KeyError:
                raise ApiError(404, "Task not found") from None
            except TypeError as e:
                raise ApiError(400, str(e)) from None
            return self.send_json(200, {"ok": True})
        raise ApiError(404, "Not found")


def _rate_limited(headers: dict) -> ApiError:
    return ApiError(
        429, "RateLimitExceeded: too many requests per second", code="RateLimitExceeded", headers=headers
    )


# --------------------------------------------------------------------------- CLI

HELP_EPILOG = """\
Accounts:
  The test-mode key msy_dummy_api_key_for_test_mode_12345678 always works and is never
  charged (balance 1000000, or --test-key-credits N; it gets 402 only if N is below the
  task price). Extra accounts: --key KEY=CREDITS (repeatable). Other keys -> 401.
  Credits per task: meshy-6/latest 30 textured, 20 untextured; meshy-5 15 / 5.
  FAILED and CANCELED (deleted while running) tasks are refunded (consumed_credits 0).

Failure triggers:
  A texture_prompt containing "[fail:<type>]" makes the task FAILED at half its time, e.g.
  [fail:moderation_blocked], [fail:image_too_complex], [fail:unsupported_format],
  [fail:image_url_not_accessible], [fail:internal_error]; any other <type> (a-z0-9_) works
  with a generic message. task_error = {"type": <type>, "code": <type>, "message": ...}.

Inputs:
  Images are data URIs (data:image/png|jpeg|jpg;base64,...) checked by magic bytes, or
  http(s) URLs pointing at this server (/files/<name> hosted via MeshyServer.add_file, or
  /assets/... of another task). Other URLs -> 400 "Unreachable URL".
  input_task_id must name a SUCCEEDED task of the same account (its first image is reused).

Outputs (built from each task's own request on first download):
  model.glb (pillow mesh, input photo embedded as baseColorTexture, PBR maps when
  enable_pbr), model.obj + model.mtl, model.stl, model.3mf, pre_remeshed_model.glb,
  texture_0.png|jpg (input image as sent), texture_0_{metallic,roughness,normal,emission}.png,
  preview.png, thumbnail_{front,right,back,left}.png, alpha_thumbnail.png are real files.
  model.fbx and model.usdz are small PLACEHOLDER text files.

Control (no auth): GET /_control/stats, GET|POST /_control/faults, POST /_control/reset,
  POST /_control/tasks/<id> {"status"|"progress"|"expires_at"|"task_error"|"preceding_tasks"}.
Benchmark: GET /_bench/blob/<size>[k|m|g] deterministic bytes, Range supported.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Local Meshy-compatible Image to 3D / Multi-Image to 3D API server.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--task-seconds", type=float, default=20.0, help="create -> SUCCEEDED duration")
    p.add_argument("--key", action="append", default=[], metavar="KEY=CREDITS", help="extra account")
    p.add_argument("--rps", type=float, default=None, help="requests/second per account (429)")
    p.add_argument("--queue", type=int, default=None, help="max unfinished tasks per account (429)")
    p.add_argument("--expires-seconds", type=float, default=3 * 24 * 3600, help="asset link lifetime")
    p.add_argument("--test-key-credits", type=int, default=None, help="reported test-key balance")
    p.add_argument("--keepalive-seconds", type=float, default=10.0, help="SSE keep-alive re-send period")
    p.add_argument("--verbose", action="store_true", help="log requests (API keys masked)")
    f = p.add_argument_group("faults (counters decrement as used)")
    f.add_argument("--reset-connections", type=int, default=0, metavar="N", help="RST next N API/asset requests")
    f.add_argument("--http-5xx", type=int, default=0, metavar="N", help="next N API requests -> 503")
    f.add_argument("--rate-limit", type=int, default=0, metavar="N", help="next N API requests -> 429")
    f.add_argument("--retry-after", type=int, default=1, metavar="S", help="Retry-After seconds for 429")
    f.add_argument("--queue-full", type=int, default=0, metavar="N", help="next N creates -> 429 queue full")
    f.add_argument("--slow-ms", type=int, default=0, metavar="M", help="delay every response by M ms")
    f.add_argument("--truncate-downloads", type=int, default=0, metavar="N", help="cut next N asset bodies")
    f.add_argument("--stream-drop-after", type=int, default=None, metavar="K", help="drop streams after K events")
    f.add_argument("--stream-drops", type=int, default=0, metavar="N", help="how many streams to drop (def. 1)")
    f.add_argument("--no-range", action="store_true", help="asset server ignores Range")
    f.add_argument("--download-bps", type=int, default=0, metavar="B", help="throttle asset bodies")
    f.add_argument("--reset-after-send", type=int, default=0, metavar="N", help="next N creates: charge, then RST")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keys = {}
    for item in args.key:
        k, sep, v = item.partition("=")
        keys[k] = int(v) if sep else 1000
    faults = {name: getattr(args, name) for name in FAULT_DEFAULTS}
    faults = {k: v for k, v in faults.items() if v != FAULT_DEFAULTS[k] and v is not None}
    srv = MeshyServer(
        host=args.host,
        port=args.port,
        task_seconds=args.task_seconds,
        keys=keys,
        rps_limit=args.rps,
        queue_limit=args.queue,
        expires_seconds=args.expires_seconds,
        test_key_credits=args.test_key_credits,
        keepalive_seconds=args.keepalive_seconds,
        verbose=args.verbose,
        **faults,
    )
    srv.start()
    print(f"Meshy-compatible server on {srv.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
