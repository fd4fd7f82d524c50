"""A tiny raw-socket HTTP server for tests that need exact bytes on the wire.

The shared MeshyServer covers the API; this covers framing variants (CRLF SSE, comments,
multi-line data), odd answers (403 with the key echoed, Content-Length lies) and request
inspection (which headers a download sent).  Not a test module itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass

from tests.netkit import read_head


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class RawServer:
    """Accepts connections; for each request calls ``handler(request, sock, n)`` (n = 0-based count).

    The handler writes whatever bytes it likes; the connection is closed after it returns
    unless it returns True (keep-alive).
    """

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        buf = b""
        try:
            while True:
                request = read_head(conn, buf)
                if request is None:
                    return
                method, path, _, headers, buf = request
                length = int(headers.get("content-length", 0))
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                req = Request(method, path, headers, body)
                with self._lock:
                    n = len(self.requests)
                    self.requests.append(req)
                if not self.handler(req, conn, n):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self):
        self._stop = True
        with contextlib.suppress(OSError):
            self._sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
                c.close()


def respond(sock: socket.socket, status: int, body: bytes = b"", headers: dict | None = None,
            reason: str = "X") -> None:
    """Write a complete HTTP/1.1 answer (Content-Length set unless given)."""
    hdrs = {"Content-Length": str(len(body))}
    hdrs.update(headers or {})
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    sock.sendall(head.encode("latin-1") + body)


def free_port() -> int:
    """A port with nothing listening on it (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
