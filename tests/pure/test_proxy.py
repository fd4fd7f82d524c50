"""Proxies and TLS end to end: real sockets, a real CONNECT proxy, the local server behind a test CA."""

from __future__ import annotations

import threading
import time

import pytest
from test_engine_support import FAST_RETRY, KEY, EngineKit, head, png

from meshy_blender.jobs import JobEngine, JobSpec, UploadImage
from meshy_blender.meshy import IMAGE_TO_3D
from meshy_blender.meshy.client import MeshyClient
from meshy_blender.meshy.download import download
from meshy_blender.meshy.errors import (
    CancelledError,
    CertificateError,
    ProxyAuthenticationError,
    ProxyError,
    SubmissionUncertainError,
    UnexpectedPageError,
)
from meshy_blender.meshy.network import NetworkConfig
from tests.netkit import clear_network_env, closed_port, shown

OPTS = {"image_url": "data:image/png;base64,iVBORw0KGgo="}
SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def _no_network_env(monkeypatch):
    clear_network_env(monkeypatch)


@pytest.fixture
def tls_server(make_server, test_ca):
    return make_server(ssl_context=test_ca.server_context(), task_seconds=0.2)


def client(url: str, network: NetworkConfig, **kw) -> MeshyClient:
    return MeshyClient(KEY, url, network=network, retry=FAST_RETRY, connect_timeout=5, read_timeout=10, **kw)


def creates(srv) -> int:
    return srv.stats()["creates"]


def as_localhost(url: str) -> str:
    """The API as localhost, while the server's asset URLs say 127.0.0.1: the proxy tells them apart."""
    return url.replace("127.0.0.1", "localhost")


def test_whole_job_through_the_proxy_api_and_downloads_tunnelled(make_proxy, tls_server, test_ca, tmp_path):
    proxy = make_proxy()
    network = NetworkConfig(proxy=proxy.url, ca_bundle=str(test_ca.ca_pem))
    api = as_localhost(tls_server.url)
    kit = EngineKit(tls_server, tmp_path)
    eng = JobEngine(kit.journal_dir, kit.library_dir, lambda: client(api, network), **kit.FAST)
    kit.engines.append(eng)
    kit.events[id(eng)] = []
    try:
        job_id = eng.submit(JobSpec(kind=IMAGE_TO_3D, images=[UploadImage("p.png", "image/png", png())],
                                    options={"enable_pbr": True}, label="proxied"))
        view = kit.wait(eng, job_id, "ready", timeout=30)
    finally:
        kit.close()
    assert head(view.files["model"], 4) == b"glTF" and len(view.files["textures"]) == 5
    port = tls_server.port
    api_tunnels = [t for t in proxy.tunnels if t == f"localhost:{port}"]
    asset_tunnels = [t for t in proxy.tunnels if t == f"127.0.0.1:{port}"]
    assert api_tunnels, "the API calls went through the proxy"
    assert len(asset_tunnels) >= 7, "every download (model, thumbnail, 5 maps) went through the tunnel"
    assert set(proxy.tunnels) == {f"localhost:{port}", f"127.0.0.1:{port}"}
    assert proxy.bytes_down > 0 and creates(tls_server) == 1


def test_no_proxy_bypasses_the_proxy(make_proxy, tls_server, test_ca, monkeypatch):
    proxy = make_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("MESHY_CA_BUNDLE", str(test_ca.ca_pem))
    assert client(tls_server.url, NetworkConfig()).balance() >= 0
    assert proxy.tunnels == [f"127.0.0.1:{tls_server.port}"], "without NO_PROXY it goes through the proxy"
    monkeypatch.setenv("no_proxy", "example.com, 127.0.0.1")
    assert client(tls_server.url, NetworkConfig()).balance() >= 0
    assert len(proxy.tunnels) == 1, "NO_PROXY: connected directly"


def test_proxy_preference_wins_over_the_environment(make_proxy, tls_server, test_ca, monkeypatch):
    env_proxy, pref_proxy = make_proxy(), make_proxy()
    monkeypatch.setenv("HTTPS_PROXY", env_proxy.url)
    network = NetworkConfig(proxy=pref_proxy.url, ca_bundle=str(test_ca.ca_pem))
    client(tls_server.url, network).balance()
    assert pref_proxy.tunnels and not env_proxy.tunnels
    client(tls_server.url, NetworkConfig(proxy="none", ca_bundle=str(test_ca.ca_pem))).balance()
    assert len(pref_proxy.tunnels) == 1 and not env_proxy.tunnels, "'none' connects directly"


def test_proxy_with_basic_credentials(make_proxy, tls_server, test_ca):
    proxy = make_proxy(credentials=("artist", SECRET))
    ca = str(test_ca.ca_pem)
    with pytest.raises(ProxyAuthenticationError) as info:
        client(tls_server.url, NetworkConfig(proxy=proxy.url, ca_bundle=ca)).create(IMAGE_TO_3D, OPTS)
    message = str(info.value)
    assert "407" in message and "needs a user name and password" in message and proxy.url in message
    assert "Proxy preference" in message and not info.value.request_sent and not info.value.retryable

    wrong = NetworkConfig(proxy=proxy.url_with("artist", "wrong-" + SECRET), ca_bundle=ca)
    with pytest.raises(ProxyAuthenticationError) as info:
        client(tls_server.url, wrong).create(IMAGE_TO_3D, OPTS)
    assert "rejected the user name and password" in str(info.value)
    assert SECRET not in shown(info.value) and "artist" not in shown(info.value)
    assert f"http://***@127.0.0.1:{proxy.port}" in str(info.value)
    assert creates(tls_server) == 0 and proxy.refused_auth == 2

    good = NetworkConfig(proxy=proxy.url_with("artist", SECRET), ca_bundle=ca)
    c = client(tls_server.url, good)
    assert c.create(IMAGE_TO_3D, OPTS) and creates(tls_server) == 1
    for text in (repr(c), repr(good), repr(c.network.proxy_for("https", "127.0.0.1"))):
        assert SECRET not in text and "artist" not in text


def test_forward_proxy_for_plain_http_needs_credentials_too(make_proxy, meshy_server):
    proxy = make_proxy(credentials=("artist", SECRET))
    with pytest.raises(ProxyAuthenticationError) as info:
        client(meshy_server.url, NetworkConfig(proxy=proxy.url)).create(IMAGE_TO_3D, OPTS)
    assert not info.value.request_sent, "a proxy's 407 means the request never reached Meshy"
    assert creates(meshy_server) == 0 and SECRET not in shown(info.value)
    c = client(meshy_server.url, NetworkConfig(proxy=proxy.url_with("artist", SECRET)))
    task_id = c.create(IMAGE_TO_3D, OPTS)
    assert c.retrieve(IMAGE_TO_3D, task_id).id == task_id
    assert proxy.forwarded[0].startswith(meshy_server.url + "/openapi/v1/image-to-3d")
    assert meshy_server.counters["asset_requests_with_auth"] == 0


@pytest.mark.parametrize("where", ["preference", "HTTPS_PROXY", "all_proxy"])
def test_closed_proxy_port_names_the_proxy_and_sends_nothing(tls_server, test_ca, monkeypatch, where):
    url = f"http://artist:{SECRET}@127.0.0.1:{closed_port()}"
    if where == "preference":
        network = NetworkConfig(proxy=url, ca_bundle=str(test_ca.ca_pem))
    else:
        monkeypatch.setenv(where, url)
        network = NetworkConfig(ca_bundle=str(test_ca.ca_pem))
    with pytest.raises(ProxyError) as info:
        client(tls_server.url, network).create(IMAGE_TO_3D, OPTS)
    message = str(info.value)
    assert "Could not reach the proxy http://***@127.0.0.1:" in message and "refused" in message
    source = "the Proxy preference" if where == "preference" else f"the {where} environment variable"
    assert source in message
    assert not isinstance(info.value, SubmissionUncertainError) and not info.value.request_sent
    assert SECRET not in shown(info.value) and creates(tls_server) == 0


@pytest.mark.parametrize("variable", ["preference", "MESHY_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_tls_with_the_test_ca_from_each_setting(tls_server, test_ca, monkeypatch, variable):
    if variable == "preference":
        network = NetworkConfig(ca_bundle=str(test_ca.ca_pem))
    else:
        monkeypatch.setenv(variable, str(test_ca.ca_pem))
        network = NetworkConfig()
    c = client(tls_server.url, network)
    task_id = c.create(IMAGE_TO_3D, OPTS)
    assert c.retrieve(IMAGE_TO_3D, task_id).id == task_id and creates(tls_server) == 1


def test_tls_without_the_ca_is_a_clear_message_and_nothing_is_sent(tls_server):
    with pytest.raises(CertificateError) as info:
        client(tls_server.url, NetworkConfig()).create(IMAGE_TO_3D, OPTS)
    message = str(info.value)
    assert "certificate of 127.0.0.1 is not trusted" in message and "CA Bundle" in message
    assert "MESHY_CA_BUNDLE" in message and not info.value.request_sent
    assert creates(tls_server) == 0 and tls_server.counters["requests"] == 0


def test_a_ca_that_does_not_vouch_names_the_bundle_in_use(tls_server, tmp_path):
    from tests.netkit import make_ca

    other = make_ca(tmp_path / "other", "Some Other CA")
    with pytest.raises(CertificateError) as info:
        client(tls_server.url, NetworkConfig(ca_bundle=str(other.ca_pem))).balance()
    assert str(other.ca_pem) in str(info.value) and "the CA Bundle preference" in str(info.value)


def test_tls_through_the_proxy_without_the_ca_sends_nothing(make_proxy, tls_server):
    proxy = make_proxy()
    with pytest.raises(CertificateError):
        client(tls_server.url, NetworkConfig(proxy=proxy.url)).create(IMAGE_TO_3D, OPTS)
    assert proxy.tunnels and creates(tls_server) == 0


def test_captive_portal_page_is_named_not_parsed(make_proxy, meshy_server, tmp_path):
    proxy = make_proxy(captive=True)
    c = client(meshy_server.url, NetworkConfig(proxy=proxy.url))
    with pytest.raises(UnexpectedPageError) as info:
        c.balance()
    message = str(info.value)
    assert "web page instead of Meshy's answer" in message and "captive portal" in message
    assert "Welcome" not in message and "Proxy" in message
    with pytest.raises(SubmissionUncertainError) as info:  # it may be a portal, or it may not: never resend
        c.create(IMAGE_TO_3D, OPTS)
    assert "web page" in str(info.value)
    with pytest.raises(UnexpectedPageError):
        download(meshy_server.url + "/assets/x/model.glb", tmp_path / "model.glb",
                 network=NetworkConfig(proxy=proxy.url))
    assert not (tmp_path / "model.glb").exists()
    assert creates(meshy_server) == 0


def test_create_reset_after_sending_through_the_tunnel_is_still_uncertain(make_proxy, make_server, test_ca):
    srv = make_server(ssl_context=test_ca.server_context(), reset_after_send=1)
    proxy = make_proxy()
    with pytest.raises(SubmissionUncertainError):
        client(srv.url, NetworkConfig(proxy=proxy.url, ca_bundle=str(test_ca.ca_pem))).create(IMAGE_TO_3D, OPTS)
    assert proxy.tunnels, "the create went through the tunnel, so it may have arrived"


def test_stream_through_the_proxy_is_cancellable(make_proxy, make_server, test_ca):
    srv = make_server(ssl_context=test_ca.server_context(), task_seconds=60)
    proxy = make_proxy()
    c = client(srv.url, NetworkConfig(proxy=proxy.url, ca_bundle=str(test_ca.ca_pem)))
    task_id = c.create(IMAGE_TO_3D, OPTS)
    cancel = threading.Event()
    got: list[BaseException] = []

    def watch():
        try:
            c.watch(IMAGE_TO_3D, task_id, cancel=cancel)
        except BaseException as exc:  # the test inspects it
            got.append(exc)

    thread = threading.Thread(target=watch)
    thread.start()
    deadline = time.monotonic() + 10
    while srv.counters["requests_by_route"]["stream"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    started = time.monotonic()
    cancel.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 2
    assert got and isinstance(got[0], CancelledError)
    assert proxy.tunnels.count(f"127.0.0.1:{srv.port}") >= 2, "the create and the stream were tunnelled"


def test_download_through_the_proxy_resumes_after_a_drop(make_proxy, make_server, test_ca, tmp_path):
    srv = make_server(ssl_context=test_ca.server_context(), truncate_downloads=1)
    proxy = make_proxy()
    network = NetworkConfig(proxy=proxy.url, ca_bundle=str(test_ca.ca_pem))
    c = client(srv.url, network)
    task = c.watch(IMAGE_TO_3D, c.create(IMAGE_TO_3D, OPTS))
    path = download(task.model_urls["glb"], tmp_path / "m.glb", network=c.network)
    assert head(path, 4) == b"glTF" and len(proxy.tunnels) >= 4
