"""A small HTTP layer over ``http.client``: timeouts, connection reuse, honest failure reports.

Why not ``requests``: importing it costs more than the add-on's whole start-up budget, and a create
request needs to know exactly whether it was fully sent before a failure (``NetworkError.
request_sent``), which decides between "safe to retry" and "may exist on the server".

* Connect and read timeouts are separate: connect with one, then ``sock.settimeout(read)``.
* Idle keep-alive connections are pooled per host (thread-safe: a connection is used by one
  thread at a time); a pooled connection the server closed is detected before reuse.
* Where a connection goes and whom TLS trusts is the ``NetworkConfig``'s (proxy, CA bundle;
  ``network.py``); opening it is ``connect.Connection``'s. Verification has no switch.
* Streaming responses get a fresh connection and can be aborted from a cancel ``threading.Event``.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .connect import Connection, proxy_auth_error
from .errors import CancelledError, NetworkError, RequestTimeoutError, ValidationError
from .network import NetworkConfig

__all__ = ["USER_AGENT", "Response", "StreamResponse", "Transport"]

USER_AGENT = f"meshy-blender/{__version__} (Python {sys.version_info[0]}.{sys.version_info[1]})"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# What a response's headers are: http.client's message (case-insensitive .get), or a plain mapping.
Headers = Mapping[str, str] | http.client.HTTPMessage

class _Target:
    """A parsed http(s) URL."""

    __slots__ = ("host", "path", "port", "scheme")

    def __init__(self, url: str):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("url", "must be an http(s) URL")
        self.scheme = scheme
        self.host = parts.hostname
        try:
            self.port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ValidationError("url", "has an invalid port") from None
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class Response:
    """A complete HTTP answer (body read in full)."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def json(self) -> Any:
        """The body as JSON (``None`` if empty); raises ``ValueError`` if it is not JSON."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return f"Response({self.status} {self.reason}, {len(self.body)} bytes)"


class _Aborter:
    """Shuts a socket down when ``cancel`` is set, so a read blocked in another thread returns."""

    def __init__(self, cancel: threading.Event | None, sock: socket.socket | None):
        self._done = threading.Event()
        if cancel is None or sock is None:
            return
        threading.Thread(target=self._run, args=(cancel, sock), name="meshy-cancel-watch",
                         daemon=True).start()

    def _run(self, cancel: threading.Event, sock: socket.socket) -> None:
        while not self._done.is_set():
            if cancel.wait(0.1):
                if not self._done.is_set():
                    try:
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # bypass SSLSocket state
                    except (OSError, ValueError):
                        pass
                return

    def stop(self) -> None:
        self._done.set()


class StreamResponse:
    """An HTTP answer whose body is read piece by piece; close it (or use ``with``)."""

    def __init__(self, conn: Connection, resp: http.client.HTTPResponse,
                 aborter: _Aborter, cancel: threading.Event | None, host: str):
        self._conn = conn
        self._resp = resp
        self._aborter = aborter
        self._cancel = cancel
        self._host = host
        self.status = resp.status
        self.reason = resp.reason
        self.headers = resp.headers

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def read(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes as soon as any arrive; ``b""`` at the end of the body."""
        try:
            data = self._resp.read1(size)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._check_cancel()
            raise _network_error(exc, self._host, sent=True) from exc
        if not data:
            self._check_cancel()
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Like read(), into ``buffer`` without a new bytes object per chunk (downloads); 0 at the end."""
        resp = self._resp
        try:
            if resp.fp is None:
                n = 0
            elif resp.chunked:
                data = resp.read1(len(buffer))
                n = len(data)
                buffer[:n] = data
            else:
                want = len(buffer) if resp.length is None else min(len(buffer), resp.length)
                n = resp.fp.readinto1(buffer[:want]) if want else 0
                if n and resp.length is not None:
                    resp.length -= n
                if not n:
                    resp.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self._check_cancel()
            raise _network_error(exc, self._host, sent=True) from exc
        if not n:
            self._check_cancel()
        return n

    def read_body(self, limit: int = 1 << 20) -> bytes:
        """The rest of the body (for error answers), at most ``limit`` bytes."""
        chunks, total = [], 0
        while total < limit:
            data = self.read(min(65536, limit - total))
            if not data:
                break
            chunks.append(data)
            total += len(data)
        return b"".join(chunks)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.read()
            if not data:
                return
            yield data

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise CancelledError()

    def close(self) -> None:
        self._aborter.stop()
        try:
            self._resp.close()
        finally:
            self._conn.close()

    def __enter__(self) -> StreamResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _network_error(exc: BaseException, host: str, *, sent: bool, connecting: bool = False) -> NetworkError:
    """Translate a socket/http.client failure into a message a user can act on.

    Only the exception type and errno text are used: http.client exceptions may carry payload bytes.
    """
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        what = "connecting to" if connecting else "waiting for an answer from"
        return RequestTimeoutError(f"Timed out {what} {host}; check your internet connection.",
                                   request_sent=sent)
    if isinstance(exc, socket.gaierror):
        return NetworkError(f"Could not look up {host}; check your internet connection.",
                            request_sent=False)
    if isinstance(exc, ConnectionRefusedError):
        return NetworkError(f"{host} refused the connection; check your internet connection.",
                            request_sent=False)
    if isinstance(exc, (ConnectionError, http.client.RemoteDisconnected)):
        return NetworkError(f"The connection to {host} was dropped.", request_sent=sent)
    if isinstance(exc, http.client.HTTPException):
        return NetworkError(f"Incomplete or malformed answer from {host} ({type(exc).__name__}).",
                            request_sent=sent)
    if isinstance(exc, OSError) and exc.strerror:
        return NetworkError(f"Network error talking to {host}: {exc.strerror}.", request_sent=sent)
    return NetworkError(f"Network error talking to {host} ({type(exc).__name__}).", request_sent=sent)


def _is_dropped(conn: Connection) -> bool:
    """An idle keep-alive socket that is readable was closed by the server (or is out of sync)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_STALE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)


class Transport:
    """HTTP/1.1 client with per-host keep-alive pooling and separate connect/read timeouts."""

    def __init__(self, *, connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 user_agent: str = USER_AGENT, max_idle_per_host: int = 4,
                 network: NetworkConfig | None = None):
        self.network = network if network is not None else NetworkConfig()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self._max_idle = max_idle_per_host
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._closed = False

    # -- connections --------------------------------------------------------------------------

    def _connect(self, target: _Target, read_timeout: float | None = None) -> Connection:
        """A new connection (direct, or through the proxy); every failure here means "not sent"."""
        conn = Connection(target.scheme, target.host, target.port, self.network, self.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(self.read_timeout if read_timeout is None else read_timeout)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _network_error(exc, target.host, sent=False, connecting=True) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _write(conn: Connection, method: str, target: _Target, body: bytes | None,
               headers: dict[str, str]) -> None:
        conn.request(method, conn.request_target(target.path), body=body, headers={**headers, **conn.proxy_headers()})

    @staticmethod
    def _answer(conn: Connection) -> http.client.HTTPResponse:
        """The answer's head; a forward proxy's 407 is the proxy's, so the request never reached Meshy."""
        resp = conn.getresponse()
        if conn.forward and resp.status == 407 and conn.proxy is not None:
            resp.close()
            conn.close()
            raise proxy_auth_error(conn.proxy)
        return resp

    def _acquire(self, key: tuple[str, str, int]) -> Connection | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if not _is_dropped(conn):
                    return conn
                conn.close()
        return None

    def _release(self, key: tuple[str, str, int], conn: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and conn.sock is not None and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close idle connections; the transport stays usable (new connections are made)."""
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()

    def _headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        merged = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        if headers:
            merged.update(headers)
        return merged

    # -- requests -----------------------------------------------------------------------------

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                body: bytes | None = None, reuse: bool = True) -> Response:
        """Send one request and read the whole answer.

        With ``reuse`` an idle pooled connection may be used; if it turns out the server had
        closed it, an idempotent request is resent once on a fresh connection.  Pass
        ``reuse=False`` for requests that must not be sent twice (creates).
        Raises ``NetworkError`` (``request_sent`` says whether it may have reached the server).
        """
        target = _Target(url)
        hdrs = self._headers(headers)
        for attempt in (0, 1):
            conn = self._acquire(target.key) if reuse and attempt == 0 else None
            reused = conn is not None
            if conn is None:
                conn = self._connect(target)
            sent = False
            try:
                self._write(conn, method, target, body, hdrs)
                sent = True
                resp = self._answer(conn)
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and method in IDEMPOTENT and isinstance(exc, _STALE):
                    continue  # the pooled connection was dead: try once on a fresh one
                raise _network_error(exc, target.host, sent=sent) from exc
            except BaseException:
                conn.close()
                raise
            if reuse and not resp.will_close:
                self._release(target.key, conn)
            else:
                conn.close()
            return Response(resp.status, resp.reason, resp.headers, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def open(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
             body: bytes | None = None, cancel: threading.Event | None = None,
             read_timeout: float | None = None) -> StreamResponse:
        """Send a request on a fresh connection and return as soon as the headers arrive.

        Setting ``cancel`` aborts a blocked read at once (it raises ``CancelledError``).
        """
        target = _Target(url)
        if cancel is not None and cancel.is_set():
            raise CancelledError()
        conn = self._connect(target, read_timeout)
        aborter = _Aborter(cancel, conn.sock)
        sent = False
        try:
            self._write(conn, method, target, body, self._headers(headers))
            sent = True
            resp = self._answer(conn)
        except (OSError, http.client.HTTPException) as exc:
            aborter.stop()
            conn.close()
            if cancel is not None and cancel.is_set():
                raise CancelledError() from None
            raise _network_error(exc, target.host, sent=sent) from exc
        except BaseException:
            aborter.stop()
            conn.close()
            raise
        return StreamResponse(conn, resp, aborter, cancel, target.host)
