"""Server-Sent Events for a task: an event on each change, keep-alive re-sends, the full object last."""

from __future__ import annotations

import json
import time

from .errors import ApiError
from .tasks import TERMINAL


class StreamRoutes:
    """Mixed into the request handler (it provides send_*, abort, srv)."""

    sent = 0
    drop_after: int | None = None

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
            task = srv.state.get_task(kind, key, task_id)
        except ApiError:
            self.chunk(b'event: error\ndata: {"status_code": 404, "message": "Task not found"}\n\n')
            return self.chunk(b"")
        self.stream_loop(task, srv.faults.take_stream_drop())

    def stream_loop(self, task, drop_after: int | None):
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
            if msg["status"] in TERMINAL:
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
