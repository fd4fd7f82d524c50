"""One HTTP request: plumbing (TLS handshake, drops, JSON answers), routing, and the API routes."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from .anim import library_json
from .downloads import DownloadRoutes
from .errors import Abort, ApiError, mask_key, rate_limited
from .faults import control
from .streaming import StreamRoutes
from .tasks import KINDS

API_PREFIX = "/openapi/v1/"
MAX_BODY_BYTES = 150 * 1024 * 1024
HANDSHAKE_SECONDS = 10.0


class Handler(StreamRoutes, DownloadRoutes, BaseHTTPRequestHandler):
    """Routing by path. `srv` is bound to the owning MeshyServer."""

    srv = None  # the MeshyServer, bound per server by MeshyServer.start
    protocol_version = "HTTP/1.1"
    server_version = "MeshyLocal/1.0"

    def version_string(self):
        return self.server_version

    # ---- plumbing

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(HANDSHAKE_SECONDS)
            self.request.do_handshake()  # a failure ends this request quietly (_HTTPServer.handle_error)
            self.request.settimeout(None)
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

    def count(self, route: str):
        self.srv.state.count_request(route)

    def slow(self):
        ms = self.srv.faults.get("slow_ms", 0)
        if ms > 0:
            time.sleep(ms / 1000)

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
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def route(self, body: bytes):
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/_control/"):
            return self.send_json(200, control(self.srv, self.command, path, body))
        if path.startswith("/_bench/blob/"):
            return self.bench_blob(path[len("/_bench/blob/") :])
        if path == "/web/public/animations/resources":  # the animation library (public, no key)
            return self.send_json(200, library_json())
        if path.startswith("/files/"):
            return self.serve_file(unquote(path[len("/files/") :]))
        if path.startswith("/assets/"):
            return self.asset(path, query)
        if path.startswith(API_PREFIX):
            return self.api(path[len(API_PREFIX) :], query, body)
        raise ApiError(404, "Not found")

    # ---- API

    def api(self, rest: str, query: dict, body: bytes):
        segs = [s for s in rest.split("/") if s]
        route, kind, task_id = self._classify(segs)
        self.count(route)
        self.slow()
        srv = self.srv
        if srv.faults.take("reset_connections"):
            self.abort()
        if route == "list" and srv.faults.take("list_5xx"):
            raise ApiError(503, "Service temporarily unavailable (injected fault)")
        if srv.faults.take("http_5xx"):
            raise ApiError(503, "Service unavailable")
        retry = {"Retry-After": srv.faults.get("retry_after", 1)}
        if srv.faults.take("rate_limit"):
            raise rate_limited(retry)
        key = self._key()
        if not srv.state.valid_key(key):
            raise ApiError(401, "Invalid API key")
        if not srv.state.check_rps(key):
            raise rate_limited(retry)
        if route == "balance":
            return self.send_json(200, {"balance": srv.state.balance_of(key)})
        if route == "create":
            return self.create(kind, key, body)
        if route == "list":
            return self.send_json(200, srv.list_json(kind, key, query))
        if route == "retrieve":
            return self.send_json(200, srv.task_json(srv.state.get_task(kind, key, task_id)))
        if route == "delete":
            srv.state.delete_task(kind, key, task_id)
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
        if self.srv.faults.take("reset_after_send"):
            self.abort()
        self.send_json(202, {"result": task.id})
