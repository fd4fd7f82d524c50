"""Fixtures shared by every tier: the local Meshy-compatible server, over real HTTP."""

import pytest

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"


@pytest.fixture
def make_server():
    """Start local Meshy servers with any settings; all are stopped after the test."""
    from scripts.meshy_server import MeshyServer

    servers = []

    def make(**kwargs):
        kwargs.setdefault("task_seconds", 0.0)
        srv = MeshyServer(**kwargs)
        srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def meshy_server(make_server):
    """A fresh server whose tasks finish at once."""
    return make_server()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CA made at test time (openssl CLI) and a server certificate for 127.0.0.1/localhost."""
    from tests.netkit import make_ca

    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def make_proxy():
    """Start real CONNECT proxies (netkit.ConnectProxy); all are closed after the test."""
    from tests.netkit import ConnectProxy

    proxies = []

    def make(**kwargs):
        proxies.append(ConnectProxy(**kwargs))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()
