"""MeshyServer: the server's lifecycle (plain HTTP or TLS), its signed asset links and its task JSON."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from . import followup_outputs, followups, outputs, rules
from .errors import ApiError
from .faults import Faults
from .state import State
from .tasks import FAIL_RE, Task, now_ms


class _HTTPServer(ThreadingHTTPServer):
    """Daemon handler threads, a deep listen backlog for bursts of clients, quiet about dropped peers."""

    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """A client that hangs up or fails the TLS handshake is part of the job, not a server error."""


class MeshyServer:
    """Meshy-compatible API on 127.0.0.1 with fault injection; `python3 -m scripts.meshy_server --help`.

    ssl_context (an ssl.SSLContext for the server side) serves HTTPS: url and every link are https://.
    triangles and texture_size: the size of a model that is not remeshed (meshy-6's default), small by
    default; ``outputs.MESHY_SIZE`` is Meshy's own (1,000,000 triangles, 2048 px maps).
    """

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
        max_image_bytes: int = rules.MAX_IMAGE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        triangles: int = outputs.DEFAULT_TRIANGLES,
        texture_size: int = 0,
        **faults,
    ):
        self.host, self.port = host, port
        self.task_seconds = float(task_seconds)
        self.expires_seconds = expires_seconds
        self.keepalive_seconds = keepalive_seconds
        self.verbose = verbose
        self.stream_preamble = stream_preamble
        self.max_image_bytes = max_image_bytes
        self.ssl_context = ssl_context
        self.output_size = outputs.OutputSize(triangles, texture_size)
        self.large_files = outputs.LargeFiles()
        self.built_sizes: dict[tuple[str, str], int] = {}  # (task id, file name) -> bytes, once built
        self.state = State(keys, test_key_credits, rps_limit, queue_limit)
        self.lock = self.state.lock
        self.faults = Faults()
        self.secret = os.urandom(16)
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.connections: set = set()
        self.files: dict[str, tuple[bytes, str]] = {}
        self.set_faults(**faults)

    # ---- lifecycle

    def start(self) -> MeshyServer:
        from .handler import Handler

        handler = type("BoundHandler", (Handler,), {"srv": self})
        self.httpd = _HTTPServer((self.host, self.port), handler)
        if self.ssl_context is not None:
            # The handshake runs on the request's own thread (Handler.setup), never in the accept loop.
            self.httpd.socket = self.ssl_context.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self.httpd.server_address[1]
        self.stopping.clear()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02})
        self.thread.daemon = True
        self.thread.start()
        if self.output_size != outputs.TEST_SIZE:
            warm = threading.Thread(target=outputs.warm_up, args=(self.output_size,), name="meshy-warm-up")
            warm.daemon = True
            warm.start()
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
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{self.scheme}://{host}:{self.port}"

    # ---- control API (also over HTTP: faults.control)

    @property
    def tasks(self) -> dict[str, Task]:
        return self.state.tasks

    def reset(self):
        """Back to the freshly started state: no tasks, initial balances, no faults, zero stats."""
        self.state.reset()
        self.faults.set()
        with self.lock:
            self.built_sizes.clear()

    def set_faults(self, **kw) -> dict:
        """Merge fault settings; no arguments clears every fault (names: faults.FAULT_DEFAULTS)."""
        return self.faults.set(**kw)

    def set_task(self, task_id: str, **fields):
        """Force a task's status/progress/expires_at/task_error/preceding_tasks; None removes a force."""
        self.state.set_task(task_id, **fields)

    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Host a file at {url}/files/<name> (e.g. an input image to pass as image_url)."""
        with self.lock:
            self.files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def stats(self) -> dict:
        """Counters, faults, and ``built_bytes``: the bytes of each output file name over all tasks."""
        with self.lock:
            built: dict[str, int] = {}
            for (_, filename), size in self.built_sizes.items():
                built[filename] = built.get(filename, 0) + size
        return {**self.state.stats(), "faults": self.faults.snapshot(), "built_bytes": built}

    @property
    def counters(self) -> dict:
        """The live counters (requests by route, creates, ...), for tests that watch them change."""
        return self.state.counters

    def test_balance(self) -> int:
        return self.state.test_balance()

    # ---- creating a task

    def create_task(self, kind: str, key: str, body: dict) -> Task:
        if kind in followups.KINDS:
            return followups.create(self, kind, key, body)
        opts = rules.parse_options(kind, body)
        fields, source = rules.image_fields(kind, body)
        images = [self.resolve_image(url, name) for name, url in fields]
        if source is not None:
            src = self.state.succeeded_task_of(key, source)
            if src is None or not src.images:
                raise ApiError(400, "Invalid input_task_id: task not found or not SUCCEEDED")
            images = [src.images[0]]
        if opts["texture_image_url"]:
            self.resolve_image(opts["texture_image_url"], "texture_image_url")
        m = FAIL_RE.search(opts["texture_prompt"])
        return self.state.add_task(
            kind, key, opts, images, rules.price(opts), self.task_seconds, self.expires_seconds,
            fail_type=m.group(1) if m else None, forced_queue_full=self.faults.take("queue_full"),
        )

    def resolve_image(self, url: str, name: str) -> tuple[bytes, str]:
        """Data URIs are decoded; http(s) URLs only resolve when they point at this server."""
        if url.startswith("data:"):
            return rules.decode_data_uri(url, name, self.max_image_bytes)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ApiError(400, f"Invalid image format in {name}: must be an http(s) URL or a data URI")
        return rules.check_image(self._local_fetch(parts), name, self.max_image_bytes)

    def _local_fetch(self, parts) -> bytes | None:
        local_hosts = {"127.0.0.1", "localhost", self.host}
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.hostname not in local_hosts or port != self.port or parts.scheme != self.scheme:
            return None
        path = unquote(parts.path)
        if path.startswith("/files/"):
            f = self.files.get(path[len("/files/") :])
            return f[0] if f else None
        segs = path.split("/")
        if len(segs) == 4 and segs[1] == "assets":
            q = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                task = self.asset_task(segs[2], segs[3], q.get("Expires", ""), q.get("Signature", ""))
                return self.asset_bytes(task, segs[3])
            except ApiError:
                return None
        return None

    # ---- signed asset links

    def asset_url(self, task: Task, filename: str) -> str:
        exp = task.expires_ms
        sig = self._sign(task.id, filename, exp)
        return f"{self.url}/assets/{task.id}/{filename}?" + urlencode({"Expires": exp, "Signature": sig})

    def _sign(self, task_id: str, filename: str, exp) -> str:
        msg = f"{task_id}/{filename}?Expires={exp}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()

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
            if task.status(time.time()) != "SUCCEEDED":
                raise ApiError(404, "Not found")
        return task

    def asset_bytes(self, task: Task, filename: str) -> bytes:
        """Build (once: small files cached on the task, large ones for the latest tasks) and return one file."""
        with task.files_lock:
            data = task.files.get(filename) or self.large_files.get((task.id, filename))
            if data is None:
                if task.kind in followups.KINDS:  # follow-up outputs: built from their source, kept on the task
                    if filename not in followup_outputs.all_files(task):
                        raise ApiError(404, "Not found")
                    data = followup_outputs.build_file(task, filename)
                else:
                    if filename not in outputs.all_files(task, self.output_size):
                        raise ApiError(404, "Not found")
                    data = outputs.build_file(task, filename, self.output_size, self.large_files)
                with self.lock:
                    self.built_sizes[(task.id, filename)] = len(data)
                if len(data) >= self.large_files.threshold and task.kind not in followups.KINDS:
                    self.large_files.put((task.id, filename), data)
                else:
                    task.files[filename] = data
            return data

    # ---- task JSON

    def task_json(self, task: Task, brief: bool = False) -> dict:
        """The task object; brief = the progress-only shape streamed while running."""
        now = time.time()
        with self.lock:
            self.state.settle(task, now)
            st = task.state(now)
        status = st["status"]
        if brief:
            return {"id": task.id, "progress": st["progress"], "status": status, "preceding_tasks": st["preceding"]}
        if task.kind in followups.KINDS:
            return followups.task_json(self, task, st)
        ok = status == "SUCCEEDED"
        o = task.opts
        out: dict = {"id": task.id, "type": task.kind, "model_urls": {}}
        if ok:
            out["model_urls"] = {k: self.asset_url(task, f) for k, f in outputs.output_files(task).items()}
            if "glb" in out["model_urls"]:
                out["model_url"] = out["model_urls"]["glb"]
        out["thumbnail_url"] = self.asset_url(task, "preview.png") if ok else ""
        if ok and o["multi_view_thumbnails"]:
            out["thumbnail_urls"] = {v: self.asset_url(task, f) for v, f in outputs.thumbnail_files(task).items()}
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
        textures = outputs.texture_files(task, self.output_size)
        out["texture_urls"] = [{k: self.asset_url(task, f) for k, f in textures.items()}] if ok and textures else []
        out["preceding_tasks"] = st["preceding"]
        out["task_error"] = task.error(status)
        out["consumed_credits"] = 0 if status in ("FAILED", "CANCELED") else task.cost
        return out

    def list_json(self, kind: str, key: str, query: dict) -> list[dict]:
        page_num, page_size, newest_first = rules.page_query(query)
        return [self.task_json(t) for t in self.state.page(kind, key, page_num, page_size, newest_first)]

