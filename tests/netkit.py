"""Network test kit (no tests here): a test CA made with the openssl CLI, and a real CONNECT proxy.

Both tiers use them: the proxy is a small threaded HTTP proxy on 127.0.0.1 that tunnels CONNECT
and forwards plain http, can require Basic credentials, can play a captive portal, and counts
what passed through it (per CONNECT target), so a test can prove which traffic took the tunnel.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CAPTIVE_PAGE = b"<!DOCTYPE html><html><body><h1>Welcome to Hotel Wi-Fi</h1><a href=/login>Log in</a></body></html>"


def read_head(conn: socket.socket, buf: bytes = b"") -> tuple[str, str, str, dict[str, str], bytes] | None:
    """Read one HTTP request head: (method, target, version, lower-case headers, what follows); None at EOF."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, version, headers, rest


@dataclass
class TestCA:
    """A CA and a server certificate for 127.0.0.1 and localhost, valid for two days."""

    __test__ = False  # not a test class
    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_pem, self.key_pem)
        return ctx

    def ca_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.ca_pem.read_text())


def make_ca(folder: Path, name: str = "Meshy Test CA") -> TestCA:
    """Generate a CA and a server certificate it signed (openssl CLI, EC keys: fast)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed for the TLS tests (apt install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def _pipe(src: socket.socket, dst: socket.socket, counter: list[int]) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            counter[0] += len(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class ConnectProxy:
    """A real HTTP proxy on 127.0.0.1 (CONNECT tunnels and forwarded http requests).

    ``credentials=("user", "pw")`` answers 407 to requests without them; ``captive=True`` answers
    every request with a Wi-Fi login page. Counters: ``tunnels`` (CONNECT targets in order),
    ``forwarded`` (absolute URLs), ``refused_auth`` (407s sent), ``bytes_up``/``bytes_down``.
    """

    def __init__(self, credentials: tuple[str, str] | None = None, captive: bool = False):
        self.credentials = credentials
        self.captive = captive
        self.tunnels: list[str] = []
        self.forwarded: list[str] = []
        self.refused_auth = 0
        self._up, self._down = [0], [0]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="test-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def bytes_down(self) -> int:
        return self._down[0]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return headers.get("proxy-authorization", "") == f"Basic {token}"

    def _serve(self, conn: socket.socket) -> None:
        upstream = None
        try:
            request = read_head(conn)
            if request is None:
                return
            method, target, version, headers, rest = request
            if not self._authorised(headers):
                with self._lock:
                    self.refused_auth += 1
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b'Proxy-Authenticate: Basic realm="studio"\r\nContent-Length: 0\r\n'
                             b"Connection: close\r\n\r\n")
                return
            if self.captive:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                             + f"Content-Length: {len(CAPTIVE_PAGE)}\r\nConnection: close\r\n\r\n".encode()
                             + CAPTIVE_PAGE)
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                with self._lock:
                    self.tunnels.append(target)
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
                upstream.settimeout(None)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                with self._lock:
                    self.forwarded.append(target)
                upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
                upstream.settimeout(None)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                kept = [f"{k}: {v}" for k, v in headers.items()  # names are case-insensitive
                        if k not in ("proxy-authorization", "proxy-connection")]
                upstream.sendall("\r\n".join([f"{method} {path} {version}", *kept]).encode("latin-1")
                                 + b"\r\n\r\n" + rest)
            down = threading.Thread(target=_pipe, args=(upstream, conn, self._down), daemon=True)
            down.start()
            _pipe(conn, upstream, self._up)
            down.join(30)
        except OSError:
            return
        finally:
            for s in (conn, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


NETWORK_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
                     "all_proxy", "no_proxy", "MESHY_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def clear_network_env(monkeypatch) -> None:
    """A test starts from no proxy and no CA variables (this machine sets SSL_CERT_FILE, for one)."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def shown(exc: BaseException) -> str:
    """Everything a user or a log could see of an error: message, repr, and a traceback with the
    locals of every add-on frame (the test's own frames are left out: they hold the test's secrets)."""
    tb = exc.__traceback__
    while tb is not None and "/tests/" in tb.tb_frame.f_code.co_filename:
        tb = tb.tb_next
    assert tb is not None, "the error was raised inside the add-on"
    text = "".join(traceback.TracebackException(type(exc), exc, tb, capture_locals=True).format())
    return f"{exc}\n{exc!r}\n{getattr(exc, 'user_message', '')}\n{text}"
