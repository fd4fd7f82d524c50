"""Proxy and trust settings: where each comes from, which wins, and that secrets stay masked."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from meshy_blender.meshy.errors import CABundleError, ValidationError
from meshy_blender.meshy.network import NetworkConfig, Proxy, build_ssl_context, load_windows_store
from tests.netkit import clear_network_env, shown

SECRET = "s3cr3t-Pa55"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_network_env(monkeypatch):
    clear_network_env(monkeypatch)


def no_os_proxies():
    return {}


def route(cfg: NetworkConfig, url_scheme: str = "https", host: str = "api.meshy.ai") -> str:
    proxy = cfg.proxy_for(url_scheme, host)
    return "direct" if proxy is None else f"{proxy.display} <- {proxy.source}"


def test_environment_variables_either_case_lower_first():
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "lower:8080", "HTTP_PROXY": "http://plain:80"}
    cfg = NetworkConfig(environ=env, system_proxies=no_os_proxies)
    assert route(cfg) == "http://lower:8080 <- the https_proxy environment variable"
    assert route(cfg, "http") == "http://plain:80 <- the HTTP_PROXY environment variable"
    cfg = NetworkConfig(environ={"ALL_PROXY": "http://every:1"}, system_proxies=no_os_proxies)
    assert route(cfg) == route(cfg, "http") == "http://every:1 <- the ALL_PROXY environment variable"
    cfg = NetworkConfig(environ={"ALL_PROXY": "http://every:1", "HTTPS_PROXY": "http://tls:2"},
                        system_proxies=no_os_proxies)
    assert route(cfg) == "http://tls:2 <- the HTTPS_PROXY environment variable"
    assert route(cfg, "http") == "http://every:1 <- the ALL_PROXY environment variable"


def test_no_proxy_matching():
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "localhost, .studio.lan,10.0.0.5"}
    cfg = NetworkConfig(environ=env, system_proxies=no_os_proxies)
    assert route(cfg, host="render.studio.lan") == route(cfg, host="localhost") == "direct"
    assert route(cfg, host="10.0.0.5") == "direct" and route(cfg, host="api.meshy.ai") != "direct"
    everything = NetworkConfig(environ={**env, "no_proxy": "*"}, system_proxies=no_os_proxies)
    assert route(everything) == "direct"


def test_os_settings_are_used_only_without_environment_proxies():
    """urllib.request.getproxies() reads the Windows registry / macOS settings; here it is given."""
    def os_settings():
        return {"https": "http://corp:8080", "no": "intranet"}

    cfg = NetworkConfig(environ={}, system_proxies=os_settings)
    assert route(cfg) == "http://corp:8080 <- the system proxy settings"
    assert route(cfg, host="intranet") == "direct"
    assert route(cfg, "http") == "direct"
    cfg = NetworkConfig(environ={"HTTPS_PROXY": "http://env:1"}, system_proxies=os_settings)
    assert route(cfg).endswith("the HTTPS_PROXY environment variable")


def test_the_preference_wins_and_none_means_direct():
    env = {"HTTPS_PROXY": "http://env:1", "HTTP_PROXY": "http://env:1"}
    cfg = NetworkConfig(proxy="pref.studio:3128", environ=env, system_proxies=no_os_proxies)
    assert route(cfg) == route(cfg, "http") == "http://pref.studio:3128 <- the Proxy preference"
    cfg = NetworkConfig(proxy="none", environ=env, system_proxies=no_os_proxies)
    assert route(cfg) == route(cfg, "http") == "direct"
    cfg = NetworkConfig(proxy="", environ=env, system_proxies=no_os_proxies)
    assert route(cfg).endswith("the HTTPS_PROXY environment variable")


def test_credentials_are_masked_everywhere():
    cfg = NetworkConfig(proxy=f"http://art%40studio:{SECRET}@proxy:3128", system_proxies=no_os_proxies)
    proxy = cfg.proxy_for("https", "api.meshy.ai")
    assert proxy.display == "http://***@proxy:3128" and proxy.has_credentials
    header = proxy.auth_headers()["Proxy-Authorization"]
    assert header.startswith("Basic ") and SECRET not in repr(header) and repr(header)[1:-1] == "Basic ***"
    for text in (repr(cfg), str(cfg), repr(proxy), str(proxy), proxy.display):
        assert SECRET not in text and "studio" not in text.replace("proxy", "")


@pytest.mark.parametrize("bad", [f"socks5://u:{SECRET}@proxy:1080", f"https://u:{SECRET}@proxy:443",
                                 f"http://u:{SECRET}@proxy:notaport", f"http://u:{SECRET}@:3128"])
def test_a_bad_proxy_address_is_named_without_its_secret(bad):
    with pytest.raises(ValidationError) as info:
        NetworkConfig(proxy=bad, system_proxies=no_os_proxies)
    assert "the Proxy preference" in str(info.value) and info.value.field == "proxy"
    text = shown(info.value)
    assert "network.py" in text and SECRET not in text, "no frame of the add-on holds the address in clear"


def test_a_bad_environment_proxy_names_the_variable(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", f"socks5h://u:{SECRET}@proxy:1080")
    with pytest.raises(ValidationError) as info:
        NetworkConfig(system_proxies=no_os_proxies)
    assert "the ALL_PROXY environment variable" in str(info.value) and "'none'" in str(info.value)
    assert SECRET not in shown(info.value)


def test_ca_bundle_precedence(tmp_path):
    files = {n: tmp_path / f"{n}.pem" for n in ("pref", "meshy", "requests", "sslfile")}
    for f in files.values():
        f.write_text("x")
    env = {"MESHY_CA_BUNDLE": str(files["meshy"]), "REQUESTS_CA_BUNDLE": str(files["requests"]),
           "SSL_CERT_FILE": str(files["sslfile"])}

    def chosen(pref: str = "", **over: str) -> tuple[str, str]:
        cfg = NetworkConfig(ca_bundle=pref, environ={**env, **over}, system_proxies=no_os_proxies)
        return Path(cfg.ca_bundle).stem if cfg.ca_bundle else "", cfg.ca_source

    assert chosen(str(files["pref"])) == ("pref", "the CA Bundle preference")
    assert chosen() == ("meshy", "the MESHY_CA_BUNDLE environment variable")
    assert chosen(MESHY_CA_BUNDLE="") == ("requests", "the REQUESTS_CA_BUNDLE environment variable")
    assert chosen(MESHY_CA_BUNDLE="", REQUESTS_CA_BUNDLE="") == ("sslfile", "the SSL_CERT_FILE environment variable")
    # Other tools' variables naming no file are skipped; ours naming no file is kept, to be reported.
    missing = str(tmp_path / "missing.pem")
    assert chosen(MESHY_CA_BUNDLE="", REQUESTS_CA_BUNDLE=missing)[0] == "sslfile"
    assert chosen(MESHY_CA_BUNDLE=missing)[0] == "missing"
    assert chosen(MESHY_CA_BUNDLE="", REQUESTS_CA_BUNDLE="", SSL_CERT_FILE="") == ("", "")


def test_a_missing_or_unreadable_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(CABundleError) as info:
        build_ssl_context(str(tmp_path / "nope.pem"), "the MESHY_CA_BUNDLE environment variable")
    assert "does not exist" in str(info.value) and "MESHY_CA_BUNDLE" in str(info.value)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(CABundleError) as info:
        build_ssl_context(str(junk), "the CA Bundle preference")
    assert "PEM" in str(info.value) and str(junk) in str(info.value)
    assert not info.value.request_sent and not info.value.retryable


def test_contexts_always_verify(test_ca):
    for ctx in (build_ssl_context(), build_ssl_context(str(test_ca.ca_pem), "x"),
                build_ssl_context(platform="win32", enum_certificates=lambda store: [])):
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert build_ssl_context() is build_ssl_context(), "built once per bundle"


def handshake(ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> None:
    """A real TLS handshake with a one-shot local server using the test CA's certificate."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    import threading

    def serve():
        conn, _ = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError):
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with socket.create_connection(listener.getsockname(), 5) as raw:
            ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()
    finally:
        t.join(5)
        listener.close()


def test_windows_store_with_a_bad_entry_still_trusts_the_good_ones(test_ca, tmp_path):
    """cpython#91740: one malformed certificate in the Windows store broke every connection.

    The Windows-only part is ssl.enum_certificates; it is given here with the entries a store can
    hold (a good CA, a corrupt DER entry, a PKCS#7 blob, a CA not trusted for servers). The
    loading itself, and the handshake, are real.
    """
    good = test_ca.ca_der()
    store = {"ROOT": [(b"\x30\x82\x01\x00garbage", "x509_asn", True), (good, "x509_asn", True)],
             "CA": [(b"pkcs7", "pkcs_7_asn", True), (good, "x509_asn", {"1.3.6.1.5.5.7.3.4"})]}

    def enum_certificates(name):
        return store[name]

    # What Python's own loader does with such a store: the whole batch is rejected.
    with pytest.raises(ssl.SSLError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=b"".join(
            c for c, enc, _ in store["ROOT"] if enc == "x509_asn"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert load_windows_store(ctx, enum_certificates) == 1
    ctx = build_ssl_context(platform="win32", enum_certificates=enum_certificates)
    handshake(ctx, test_ca.server_context())
    linux = build_ssl_context(platform="linux", enum_certificates=enum_certificates)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(linux, test_ca.server_context())

    def no_permission(name):
        raise PermissionError("store locked")

    assert load_windows_store(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), no_permission) == 0


def test_certifi_absent_is_tolerated(tmp_path):
    """The dev environment may have certifi; a child Python that cannot import it must still work."""
    code = ("import sys; sys.modules['certifi'] = None\n"
            "from meshy_blender.meshy.network import build_ssl_context\n"
            "import ssl; ctx = build_ssl_context(); assert ctx.verify_mode == ssl.CERT_REQUIRED; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_proxy_parse_defaults():
    p = Proxy.parse("proxy.lan", "the Proxy preference")
    assert (p.host, p.port, p.has_credentials) == ("proxy.lan", 80, False)
    assert p.auth_headers() == {}
    p = Proxy.parse("http://[::1]:3128", "x")
    assert p.display == "http://[::1]:3128"
