"""Opening one connection: directly or through an http proxy (a CONNECT tunnel for https), then TLS.

Every failure here happens before a byte of the request is written, so whatever is raised means
"not sent". Proxy and certificate problems become errors that name what to change; a direct
connection's socket errors are left to the transport, which words them for its host.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from . import __version__
from .errors import CertificateError, NetworkError, ProxyAuthenticationError, ProxyError
from .network import NetworkConfig, Proxy

__all__ = ["Connection", "proxy_auth_error"]

_MAX_HEADER_LINES = 100


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, socket.gaierror):
        return "its name could not be looked up"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused (nothing listens there)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _proxy_unreachable(proxy: Proxy, exc: BaseException) -> ProxyError:
    return ProxyError(
        f"Could not reach the proxy {proxy.display} (set in {proxy.source}): {_why(exc)}. Check the proxy "
        "address and port, or change the Proxy preference (Preferences > Add-ons > Meshy; 'none' connects "
        "directly).")


def proxy_auth_error(proxy: Proxy) -> ProxyAuthenticationError:
    wanted = ("rejected the user name and password in its address" if proxy.has_credentials
              else "needs a user name and password")
    return ProxyAuthenticationError(
        f"The proxy {proxy.display} (set in {proxy.source}) {wanted} (HTTP 407 Proxy Authentication "
        "Required). Put them in the proxy address as http://user:password@host:port (in the Proxy "
        "preference or the environment variable).")


def _read_head(sock: socket.socket) -> tuple[int, str, dict[str, str]]:
    """Status and headers of the proxy's answer to CONNECT, reading no byte past them."""
    fp = sock.makefile("rb", buffering=0)  # unbuffered: the TLS bytes after the head stay in the socket
    try:
        line = fp.readline(65537).decode("latin-1")
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise http.client.BadStatusLine(line[:40])
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = fp.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(code), reason.strip(), headers
    finally:
        fp.close()


def _connect_request(authority: str, proxy: Proxy) -> bytes:
    head = {"Host": authority, "User-Agent": f"meshy-blender/{__version__}", **proxy.auth_headers()}
    return (f"CONNECT {authority} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items())
            + "\r\n").encode("latin-1")


def _tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy) -> None:
    """Ask the proxy for a byte tunnel to host:port (CONNECT); raise a ProxyError naming the cause."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        sock.sendall(_connect_request(authority, proxy))  # no local holds the credentials (tracebacks)
        status, reason, _ = _read_head(sock)
    except (OSError, http.client.HTTPException) as exc:
        raise ProxyError(
            f"The proxy {proxy.display} (set in {proxy.source}) did not open a connection to {authority}: "
            f"{_why(exc)}. Check the proxy address, or change the Proxy preference.") from None
    if status == 407:
        raise proxy_auth_error(proxy)
    if not 200 <= status < 300:
        raise ProxyError(
            f"The proxy {proxy.display} (set in {proxy.source}) refused to connect to {authority} "
            f"(HTTP {status} {reason}). Ask whoever runs the proxy to allow {host}, or change the Proxy "
            "preference.", retryable=status >= 500)


def _tls(sock: socket.socket, host: str, network: NetworkConfig) -> ssl.SSLSocket:
    ctx = network.ssl_context()
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise CertificateError(
            f"The TLS certificate of {host} is not trusted ({exc.verify_message or exc.reason}): "
            f"{network.ca_hint}. Also check the system clock.") from None
    except ssl.SSLError as exc:
        sock.close()
        raise NetworkError(f"The secure connection to {host} failed ({exc.reason or type(exc).__name__}); "
                           "a proxy or antivirus may be interfering.", request_sent=False) from None


class Connection(http.client.HTTPConnection):
    """An http.client connection whose ``connect`` goes direct or through the configured proxy.

    ``forward`` is True for plain http through a proxy: the request line carries the absolute
    URL and the proxy's credentials (``request_target`` / ``proxy_headers``).
    """

    def __init__(self, scheme: str, host: str, port: int, network: NetworkConfig, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.scheme = scheme
        self.network = network
        self.proxy = network.proxy_for(scheme, host)
        self.forward = self.proxy is not None and scheme == "http"

    def request_target(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}" if self.forward else path

    def proxy_headers(self) -> dict[str, str]:
        return self.proxy.auth_headers() if self.forward and self.proxy else {}

    def connect(self) -> None:
        proxy = self.proxy
        if proxy is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)  # OSError: the transport's
        else:
            try:
                sock = socket.create_connection((proxy.host, proxy.port), self.timeout)
            except OSError as exc:
                raise _proxy_unreachable(proxy, exc) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy is not None and self.scheme == "https":
                _tunnel(sock, self.host, self.port, proxy)
            if self.scheme == "https":
                sock = _tls(sock, self.host, self.network)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
