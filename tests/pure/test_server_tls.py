"""The local server over TLS: a test CA and a server certificate made here with the openssl CLI."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
I23 = "/openapi/v1/image-to-3d"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")


def _png() -> str:
    raw = b"".join(b"\x00" + bytes((90, 160, 40)) * 4 for _ in range(4))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca.pem (a CA trusted only by these tests), server.pem + server.key for 127.0.0.1 / localhost."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=meshy test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
def tls_server(make_server, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    return make_server(ssl_context=ctx)


def _client(pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


def _call(url, ctx, method="GET", body=None, key=TEST_KEY):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        return r.status, r.read()


def test_url_and_every_link_are_https_and_verify(tls_server, pki):
    ctx = _client(pki)
    assert tls_server.url.startswith("https://127.0.0.1:")
    status, body = _call(tls_server.url + "/openapi/v1/balance", ctx)
    assert status == 200 and json.loads(body)["balance"] > 0
    status, body = _call(tls_server.url + I23, ctx, "POST", {"image_url": _png(), "enable_pbr": True,
                                                             "multi_view_thumbnails": True})
    task = json.loads(_call(f"{tls_server.url}{I23}/{json.loads(body)['result']}", ctx)[1])
    assert task["status"] == "SUCCEEDED"
    links = [task["thumbnail_url"], *task["model_urls"].values(), *task["texture_urls"][0].values(),
             *task["thumbnail_urls"].values()]
    assert len(links) > 10 and all(u.startswith(tls_server.url + "/assets/") for u in links)
    status, glb = _call(task["model_urls"]["glb"], ctx, key=None)
    assert status == 200 and glb[:4] == b"glTF"


def test_stream_over_tls(tls_server, pki):
    ctx = _client(pki)
    tid = json.loads(_call(tls_server.url + I23, ctx, "POST", {"image_url": _png()})[1])["result"]
    _, text = _call(f"{tls_server.url}{I23}/{tid}/stream", ctx)
    events = [json.loads(line[6:]) for line in text.decode().splitlines() if line.startswith("data: ")]
    assert events[0]["status"] == "PENDING" and events[-1]["status"] == "SUCCEEDED"
    assert events[-1]["model_urls"]["glb"].startswith("https://")


def test_an_untrusting_client_fails_and_the_server_carries_on(tls_server, pki, capsys):
    with pytest.raises(urllib.error.URLError) as err:
        _call(tls_server.url + "/openapi/v1/balance", ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    plain = "http://" + tls_server.url.split("://", 1)[1]
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(plain + "/openapi/v1/balance", timeout=5).read()
    assert _call(tls_server.url + "/openapi/v1/balance", _client(pki))[0] == 200
    assert capsys.readouterr().err == ""  # failed handshakes are not tracebacks


def test_faults_work_over_tls(tls_server, pki):
    ctx = _client(pki)
    tls_server.set_faults(http_5xx=1)
    with pytest.raises(urllib.error.HTTPError) as err:
        _call(tls_server.url + "/openapi/v1/balance", ctx)
    assert err.value.code == 503
    tls_server.set_faults(reset_connections=1)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        _call(tls_server.url + "/openapi/v1/balance", ctx)
    assert _call(tls_server.url + "/openapi/v1/balance", ctx)[0] == 200


def test_input_urls_on_the_tls_server_resolve(tls_server, pki):
    ctx = _client(pki)
    url = tls_server.add_file("photo.png", base64.b64decode(_png().split(",", 1)[1]), "image/png")
    assert url.startswith("https://")
    status, body = _call(tls_server.url + I23, ctx, "POST", {"image_url": url})
    assert status == 202 and json.loads(body)["result"]


def test_cli_serves_https(pki):
    cmd = [sys.executable, "-m", "scripts.meshy_server", "--port", "0",
           "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Meshy-compatible server on https://127.0.0.1:"), line
        url = line.split(" on ")[1].strip()
        assert urlsplit(url).port and _call(url + "/openapi/v1/balance", _client(pki))[0] == 200
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_cli_wants_both_tls_files(pki):
    out = subprocess.run([sys.executable, "-m", "scripts.meshy_server", "--tls-cert", str(pki / "server.pem")],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--tls-cert and --tls-key go together" in out.stderr
