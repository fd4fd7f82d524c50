"""Where connections go and whom they trust: the proxy and certificate settings of one client.

* Proxy, first match wins: the "Proxy" preference (``none`` = connect directly), then the
  environment (``https_proxy`` / ``http_proxy`` by the target's scheme, then ``all_proxy``; lower
  case before upper case, as curl and Python do), then the OS settings Python can read
  (``urllib.request.getproxies()``: the Windows registry, macOS System Configuration).
  ``NO_PROXY`` (or the OS bypass list for an OS proxy) lists hosts reached directly.
* Trust: the system store, plus certifi's bundle (Blender ships certifi; builds whose OpenSSL
  default path is empty still verify), plus one custom CA bundle for TLS-inspecting proxies:
  the "CA Bundle" preference, else ``MESHY_CA_BUNDLE``, else ``REQUESTS_CA_BUNDLE``, else
  ``SSL_CERT_FILE`` (those two are other tools' too: one naming no file is skipped; ours is an
  error). The custom bundle is added to, never replaces, the others; verification is never
  turned off. On Windows the store is read one certificate at a time, so one malformed
  entry cannot break every connection (cpython#91740; Blender's extension code does the same).
Proxy credentials are kept out of every repr and message (``Proxy.display``).
"""

from __future__ import annotations

import base64
import os
import ssl
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from .errors import CABundleError, ValidationError

__all__ = ["CA_VARIABLES", "NetworkConfig", "Proxy", "build_ssl_context"]

CA_VARIABLES = ("MESHY_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
PREFERENCE_PROXY = "the Proxy preference"
PREFERENCE_CA = "the CA Bundle preference"
SYSTEM_PROXY = "the system proxy settings"
DIRECT = ("none", "direct")
# A CA setting of ours that names no file is an error; other tools' variables are skipped then.
_OURS = (PREFERENCE_CA, "the MESHY_CA_BUNDLE environment variable")


class _Masked(str):
    """A proxy setting as text: a real str, '***' in any repr (tracebacks with locals stay clean)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class _ProxyAuthValue(_Masked):
    """The Proxy-Authorization header value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'Basic ***'"


def _split(text: str) -> tuple[str, int, str, str] | str:
    """(host, port, user, password), or what is wrong with the address (never echoing it)."""
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme != "http":
        return (f"{scheme}:// proxies are not supported ({{source}}); use http://host:port (HTTPS still "
                "goes through it encrypted), or set the Proxy preference to 'none'")
    if not parts.hostname:
        return "has no host name ({source}); use http://host:port"
    try:
        port = parts.port or 80
    except ValueError:
        return "has an invalid port ({source})"
    return parts.hostname, port, unquote(parts.username or ""), unquote(parts.password or "")


class Proxy:
    """An http:// proxy and where its setting came from; credentials never shown."""

    __slots__ = ("_password", "_username", "host", "port", "source")

    def __init__(self, host: str, port: int, source: str, username: str = "", password: str = ""):
        self.host = host
        self.port = port
        self.source = source
        self._username = username
        self._password = password

    @classmethod
    def parse(cls, value: str, source: str) -> Proxy:
        """``[http://][user:password@]host[:port]``; raises ValidationError without echoing secrets.

        The address is split in a helper that returns rather than raises, so no frame of the
        ValidationError's traceback holds the address in clear.
        """
        value = _Masked(value.strip())
        result = _split(value)
        if isinstance(result, str):
            raise ValidationError("proxy", result.format(source=source))
        return cls(result[0], result[1], source, result[2], result[3])

    @property
    def has_credentials(self) -> bool:
        return bool(self._username or self._password)

    @property
    def display(self) -> str:
        """The address for messages: credentials masked."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{'***@' if self.has_credentials else ''}{host}:{self.port}"

    def auth_headers(self) -> dict[str, str]:
        if not self.has_credentials:
            return {}
        token = base64.b64encode(f"{self._username}:{self._password}".encode()).decode("ascii")
        return {"Proxy-Authorization": _ProxyAuthValue(f"Basic {token}")}

    def __repr__(self) -> str:
        return f"Proxy({self.display!r}, source={self.source!r})"

    __str__ = __repr__


class _Environment:
    """Read-only view of the environment whose repr shows nothing (tracebacks with locals)."""

    __slots__ = ("_env",)

    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def get(self, name: str, default: str = "") -> str:
        return self._env.get(name, default)

    def __repr__(self) -> str:
        return "<environment>"


def _env(environ: _Environment, name: str) -> tuple[str, str] | None:
    """(value, variable) for the lower- or upper-case variable, lower case first."""
    for var in (name.lower(), name.upper()):
        value = environ.get(var, "").strip()
        if value:
            return _Masked(value), var
    return None


class NetworkConfig:
    """Proxy and trust settings resolved once; ``proxy_for(url)`` picks the route per host."""

    def __init__(self, *, proxy: str = "", ca_bundle: str = "", environ: Mapping[str, str] | None = None,
                 system_proxies: Callable[[], Mapping[str, str]] | None = None):
        env = _Environment(os.environ if environ is None else environ)
        del environ  # the environment holds secrets too (keys, proxy credentials): not in this frame
        self._proxies: dict[str, Proxy | None] = {}
        self._no_proxy = ""
        self._os_bypass = False
        self.ca_bundle, self.ca_source = "", ""
        pref = _Masked((proxy or "").strip())
        del proxy  # only the masked copy stays in this frame
        if pref.lower() in DIRECT:
            self._proxies = {"http": None, "https": None}
        elif pref:
            self._proxies = dict.fromkeys(("http", "https"), Proxy.parse(pref, PREFERENCE_PROXY))
        else:
            self._from_environment(env, system_proxies or urllib.request.getproxies)
        no_proxy = _env(env, "no_proxy")
        self._no_proxy = no_proxy[0] if no_proxy else self._no_proxy
        for value, source in [((ca_bundle or "").strip(), PREFERENCE_CA)] + [
                (env.get(v, "").strip(), f"the {v} environment variable") for v in CA_VARIABLES]:
            path = os.path.expanduser(value)
            if value and (source in _OURS or os.path.isfile(path)):
                self.ca_bundle, self.ca_source = path, source
                break

    def _from_environment(self, env: _Environment, system_proxies: Callable[[], Mapping[str, str]]) -> None:
        fallback = _env(env, "all_proxy")
        for scheme in ("http", "https"):
            found = _env(env, f"{scheme}_proxy") or fallback
            if found:
                self._proxies[scheme] = Proxy.parse(found[0], f"the {found[1]} environment variable")
        if self._proxies:
            return
        system = {k.lower(): _Masked(v) for k, v in system_proxies().items()}
        for scheme in ("http", "https"):
            value = system.get(scheme) or system.get("all")
            if value:
                self._proxies[scheme] = Proxy.parse(value, SYSTEM_PROXY)
                self._os_bypass = True
        self._no_proxy = system.get("no", "")

    def proxy_for(self, scheme: str, host: str) -> Proxy | None:
        """The proxy for a connection to ``host`` over ``scheme``, or None to connect directly."""
        proxy = self._proxies.get(scheme)
        if proxy is None:
            return None
        if self._no_proxy and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
            host, {"no": self._no_proxy}):
            return None
        if self._os_bypass and sys.platform in ("win32", "darwin") and urllib.request.proxy_bypass(host):
            return None
        return proxy

    def ssl_context(self) -> ssl.SSLContext:
        """The verifying context for this trust setting (built once per bundle, then shared)."""
        return build_ssl_context(self.ca_bundle, self.ca_source)

    @property
    def ca_hint(self) -> str:
        """What to change when a certificate is not trusted."""
        if self.ca_bundle:
            return (f"the CA bundle {self.ca_bundle} (from {self.ca_source}) does not vouch for it: point "
                    "the CA Bundle preference or MESHY_CA_BUNDLE at your organisation's CA certificate")
        return ("if your network inspects HTTPS (a studio proxy or antivirus), set Preferences > Add-ons > "
                "Meshy > CA Bundle (or MESHY_CA_BUNDLE) to your organisation's CA certificate (PEM)")

    def __repr__(self) -> str:
        routes = {k: (v.display if v else "direct") for k, v in self._proxies.items()}
        return f"NetworkConfig(proxies={routes}, ca_bundle={self.ca_bundle!r})"


_contexts: dict[tuple[str, str], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def build_ssl_context(ca_bundle: str = "", ca_source: str = "", *, platform: str | None = None,
                      enum_certificates: Callable | None = None) -> ssl.SSLContext:
    """System store + certifi + the custom bundle, hostname checks on. Cached unless faked."""
    key = (ca_bundle, sys.platform)
    faked = platform is not None or enum_certificates is not None
    if not faked:
        with _contexts_lock:
            if key in _contexts:
                return _contexts[key]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if (platform or sys.platform) == "win32":
        load_windows_store(ctx, enum_certificates or getattr(ssl, "enum_certificates", None))
    ctx.set_default_verify_paths()
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]  # lazily: only a worker building its first connection pays for it

        ctx.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        pass  # no certifi: the system store alone
    if ca_bundle:
        if not os.path.isfile(ca_bundle):
            raise CABundleError(f"The CA bundle {ca_bundle} (from {ca_source}) does not exist; fix the path "
                                "or clear the setting.")
        try:
            ctx.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise CABundleError(
                f"The CA bundle {ca_bundle} (from {ca_source}) could not be read as PEM certificates "
                f"({type(exc).__name__}); export your CA certificate as PEM, or clear the setting.") from None
    if not faked:
        with _contexts_lock:
            ctx = _contexts.setdefault(key, ctx)
    return ctx


def load_windows_store(ctx: ssl.SSLContext, enum_certificates: Callable | None) -> int:
    """Trust the Windows ROOT and CA stores, one certificate at a time; returns how many loaded.

    Python's own loader hands the whole store to OpenSSL at once, and one malformed certificate
    there fails every connection (cpython#91740). Blender's extension code patches that loader
    process-wide; an add-on must not, so this applies the same rule to our context only.
    """
    if enum_certificates is None:
        return 0
    loaded = 0
    for store in ("CA", "ROOT"):
        try:
            entries = list(enum_certificates(store))
        except (PermissionError, OSError):
            continue
        for cert, encoding, trust in entries:
            if encoding != "x509_asn" or not (trust is True or ssl.Purpose.SERVER_AUTH.oid in trust):
                continue
            try:
                ctx.load_verify_locations(cadata=cert)
            except (ssl.SSLError, ValueError):
                continue  # a bad entry in the store: skip it, keep the rest
            loaded += 1
    return loaded
