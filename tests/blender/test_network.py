"""Real Blender behind a studio proxy: the Proxy and CA Bundle preferences carry a whole job through a
real CONNECT proxy to the local server behind TLS; the credentials stay in userpref only."""

from __future__ import annotations

import importlib
import json
import os
import ssl

import bl_support
import bpy
import pytest
from workflow_support import png_file

from tests.netkit import clear_network_env

SECRET = "s3cr3t-Pa55"


@pytest.fixture
def prefs(addon):
    p = bpy.context.preferences.addons[bl_support.MODULE].preferences
    yield p
    p.proxy = ""
    p.ca_bundle = ""


def test_job_through_the_proxy_preference_lands(meshy, prefs, make_server, make_proxy, test_ca, monkeypatch):
    clear_network_env(monkeypatch)
    srv = make_server(ssl_context=test_ca.server_context(), task_seconds=0.2, keepalive_seconds=0.5)
    monkeypatch.setenv("MESHY_API_BASE_URL", srv.url.replace("127.0.0.1", "localhost"))
    proxy = make_proxy(credentials=("artist", SECRET))
    prefs.proxy = proxy.url_with("artist", SECRET)
    prefs.ca_bundle = str(test_ca.ca_pem)

    job = meshy.api.submit_image(str(png_file(meshy.tmp, "proxied")), enable_pbr=True, ai_model="meshy-6")
    objects = meshy.api.wait(job, timeout=60)
    assert [o for o in objects if o.type == "MESH"] and job.state == "imported"
    assert srv.counters["creates"] == 1
    assert f"localhost:{srv.port}" in proxy.tunnels, "the API went through the proxy"
    assert proxy.tunnels.count(f"127.0.0.1:{srv.port}") >= 7, "so did every download (model, thumbnail, maps)"
    assert proxy.refused_auth == 0

    # The credentials live in userpref only: not in the .blend, the journal, the environment or a repr.
    blend = meshy.tmp / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    assert SECRET.encode() not in blend.read_bytes()
    for record in meshy.runtime.user_folder("journal").glob("*.json"):
        assert SECRET not in record.read_text()
    assert not any(SECRET in value for value in os.environ.values())
    assert SECRET not in repr(meshy.runtime.settings)
    assert SECRET not in json.dumps(meshy.runtime.account, default=str)


def test_proxy_that_refuses_credentials_fails_the_job_with_the_message(meshy, prefs, make_proxy, monkeypatch):
    clear_network_env(monkeypatch)
    proxy = make_proxy(credentials=("artist", SECRET))
    prefs.proxy = proxy.url_with("artist", "wrong")
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "refused")))
    with pytest.raises(meshy.api.JobFailed) as info:  # at once: retrying cannot fix a password (2+4+8 s)
        meshy.api.wait(job, timeout=10)
    assert job.state == "error" and "HTTP 407" in str(info.value)
    assert "HTTP 407" in job.view.error and "http://***@127.0.0.1" in job.view.error
    assert SECRET not in job.view.error and "wrong" not in job.view.error
    assert meshy.server.counters["creates"] == 0


def test_certifi_is_trusted_when_openssl_has_no_default_path(addon, monkeypatch, tmp_path):
    """Blender ships certifi: with OpenSSL's default paths empty (some macOS builds) it still gives a store."""
    import certifi

    network = importlib.import_module(bl_support.MODULE + ".meshy.network")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    only_certifi = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    only_certifi.load_verify_locations(certifi.where())
    ctx = network.build_ssl_context(platform="linux")  # uncached, like a fresh process
    assert ctx.cert_store_stats()["x509_ca"] == only_certifi.cert_store_stats()["x509_ca"] > 50
    monkeypatch.setitem(__import__("sys").modules, "certifi", None)  # a Blender without certifi
    assert network.build_ssl_context(platform="linux").cert_store_stats()["x509_ca"] == 0


def test_network_code_loads_on_first_use_not_at_enable(addon):
    """Proxy and TLS setup (and certifi) load in a worker on the first call, never when enabling."""
    import sys

    bpy.ops.preferences.addon_disable(module=bl_support.MODULE)
    for name in [m for m in sys.modules if m.startswith(bl_support.MODULE)]:
        del sys.modules[name]
    bpy.ops.preferences.addon_enable(module=bl_support.MODULE)
    assert bl_support.MODULE in bpy.context.preferences.addons
    loaded = {m.rpartition(".")[2] for m in sys.modules if m.startswith(bl_support.MODULE + ".meshy.")}
    assert not loaded & {"network", "connect", "transport", "client", "download"}
    settings = importlib.import_module(bl_support.MODULE + ".blender.runtime").settings
    settings.refresh(bpy.context)  # the main thread's part: copies strings, imports nothing
    assert bl_support.MODULE + ".meshy.network" not in sys.modules
