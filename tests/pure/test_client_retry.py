"""Retry and no-retry rules, timeouts and network failures, over real HTTP (no mocks)."""

import socket
import threading
import time

import pytest
from test_client_support import RawServer, free_port, respond

from meshy_blender.meshy import IMAGE_TO_3D
from meshy_blender.meshy.client import MeshyClient, RetryPolicy, parse_retry_after
from meshy_blender.meshy.errors import (
    CancelledError,
    NetworkError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SubmissionUncertainError,
)

KEY = "msy_dummy_api_key_for_test_mode_12345678"
PNG_URI = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AA"
           "AAMBAQDJ/pLvAAAAAElFTkSuQmCC")
OPTS = {"image_url": PNG_URI}
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


def routes(srv):
    return srv.stats()["requests_by_route"]


# -- creates -----------------------------------------------------------------------------------


def test_create_not_retried_after_reset_after_send(meshy_server):
    meshy_server.set_faults(reset_after_send=1)
    c = MeshyClient(KEY, meshy_server.url, retry=FAST)
    with pytest.raises(SubmissionUncertainError) as info:
        c.create(IMAGE_TO_3D, OPTS)
    assert info.value.request_sent and isinstance(info.value, NetworkError)
    assert "check the task list" in str(info.value)
    stats = meshy_server.stats()
    assert stats["creates"] == 1 and stats["requests_by_route"]["create"] == 1
    # reconciling: the task is in the list, so the caller adopts it instead of resubmitting
    assert len(c.list_tasks(IMAGE_TO_3D)) == 1


def test_create_reset_before_answer_is_uncertain_too(meshy_server):
    meshy_server.set_faults(reset_connections=1)  # the request was fully sent, then RST
    c = MeshyClient(KEY, meshy_server.url, retry=FAST)
    with pytest.raises(SubmissionUncertainError):
        c.create(IMAGE_TO_3D, OPTS)
    assert routes(meshy_server)["create"] == 1


def test_create_read_timeout_is_uncertain_and_not_retried(meshy_server):
    meshy_server.set_faults(slow_ms=600)
    c = MeshyClient(KEY, meshy_server.url, read_timeout=0.2, retry=FAST)
    with pytest.raises(SubmissionUncertainError) as info:
        c.create(IMAGE_TO_3D, OPTS)
    assert isinstance(info.value.__cause__, RequestTimeoutError)
    time.sleep(0.7)  # the server finishes the request it did get
    assert meshy_server.stats()["creates"] == 1 and routes(meshy_server)["create"] == 1


def test_create_retried_after_5xx(meshy_server):
    meshy_server.set_faults(http_5xx=2)
    task_id = MeshyClient(KEY, meshy_server.url, retry=FAST).create(IMAGE_TO_3D, OPTS)
    assert task_id
    assert routes(meshy_server)["create"] == 3 and meshy_server.stats()["creates"] == 1


def test_create_retried_after_rate_limit(meshy_server):
    meshy_server.set_faults(rate_limit=2, retry_after=0)
    assert MeshyClient(KEY, meshy_server.url, retry=FAST).create(IMAGE_TO_3D, OPTS)
    assert routes(meshy_server)["create"] == 3 and meshy_server.stats()["creates"] == 1


def test_create_retried_after_refused_connection(make_server):
    srv = make_server()
    srv.stop()  # the port is now closed: connections are refused
    threading.Timer(0.3, srv.start).start()
    c = MeshyClient(KEY, srv.url, retry=RetryPolicy(max_attempts=8, base_delay=0.1, max_delay=0.2, jitter=0))
    assert c.create(IMAGE_TO_3D, OPTS)
    assert srv.stats()["creates"] == 1


def test_queue_full_is_raised_not_retried(make_server):
    srv = make_server(queue_full=1)
    with pytest.raises(QueueFullError) as info:
        MeshyClient(KEY, srv.url, retry=FAST).create(IMAGE_TO_3D, OPTS)
    assert "wait" in str(info.value) and "submit later" in str(info.value)
    assert routes(srv)["create"] == 1


def test_queue_limit_from_account(make_server):
    srv = make_server(task_seconds=30, queue_limit=1)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    c.create(IMAGE_TO_3D, OPTS)
    with pytest.raises(QueueFullError):
        c.create(IMAGE_TO_3D, OPTS)


# -- reads -------------------------------------------------------------------------------------


def test_reads_retried_on_reset_5xx_and_429(meshy_server):
    c = MeshyClient(KEY, meshy_server.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, OPTS)
    meshy_server.set_faults(reset_connections=1, http_5xx=1, rate_limit=1, retry_after=0)
    assert c.retrieve(IMAGE_TO_3D, task_id).succeeded
    assert routes(meshy_server)["retrieve"] == 4
    meshy_server.set_faults(http_5xx=2)
    assert c.balance() > 0 and len(c.list_tasks(IMAGE_TO_3D)) == 1
    meshy_server.set_faults(reset_connections=1)
    c.delete(IMAGE_TO_3D, task_id)
    assert routes(meshy_server)["delete"] == 2


def test_retries_are_bounded(meshy_server):
    meshy_server.set_faults(http_5xx=10)
    c = MeshyClient(KEY, meshy_server.url, retry=RetryPolicy(max_attempts=3, base_delay=0.01))
    with pytest.raises(ServerError) as info:
        c.balance()
    assert info.value.status == 503 and "try again later" in str(info.value)
    assert routes(meshy_server)["balance"] == 3
    meshy_server.set_faults()
    meshy_server.set_faults(rate_limit=10, retry_after=0)
    with pytest.raises(RateLimitError) as info:
        c.balance()
    assert info.value.retry_after == 0


def test_retry_after_is_honoured(meshy_server):
    meshy_server.set_faults(rate_limit=1, retry_after=0.4)
    c = MeshyClient(KEY, meshy_server.url, retry=RetryPolicy(base_delay=0.001, jitter=0))
    start = time.monotonic()
    assert c.balance() > 0
    assert time.monotonic() - start >= 0.38


def test_retry_after_is_bounded_by_max_delay(meshy_server):
    meshy_server.set_faults(rate_limit=1, retry_after=3600)
    c = MeshyClient(KEY, meshy_server.url, retry=RetryPolicy(base_delay=0.001, max_delay=0.05))
    start = time.monotonic()
    assert c.balance() > 0
    assert time.monotonic() - start < 1.0


def test_delete_that_already_happened_is_not_an_error():
    answers = iter([503, 404])
    srv = RawServer(lambda req, sock, n: respond(sock, next(answers), b'{"message": "x"}'))
    try:
        MeshyClient(KEY, srv.url, retry=FAST).delete(IMAGE_TO_3D, "t1")  # 503 then 404: done
    finally:
        srv.close()
    srv = RawServer(lambda req, sock, n: respond(sock, 404, b'{"message": "Task not found"}'))
    try:
        with pytest.raises(NotFoundError):
            MeshyClient(KEY, srv.url, retry=FAST).delete(IMAGE_TO_3D, "t1")
        assert len(srv.requests) == 1
    finally:
        srv.close()


# -- network failures and timeouts ------------------------------------------------------------


def test_connection_refused():
    c = MeshyClient(KEY, f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    with pytest.raises(NetworkError) as info:
        c.balance()
    assert not isinstance(info.value, RequestTimeoutError)
    assert "refused" in str(info.value) and not info.value.request_sent


def test_dns_failure():
    c = MeshyClient(KEY, "http://api.meshy-test.invalid", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(NetworkError, match="look up"):
        c.balance()
    with pytest.raises(NetworkError) as info:  # a create that never connected is not uncertain
        c.create(IMAGE_TO_3D, OPTS)
    assert not isinstance(info.value, SubmissionUncertainError)


def test_read_timeout(meshy_server):
    meshy_server.set_faults(slow_ms=500)
    c = MeshyClient(KEY, meshy_server.url, read_timeout=0.15, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError) as info:
        c.balance()
    assert time.monotonic() - start < 1.0
    assert "Timed out waiting" in str(info.value) and info.value.request_sent
    assert routes(meshy_server)["balance"] == 2


def test_connect_timeout_is_separate_from_read_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepts: once the backlog is full, SYNs go unanswered
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    try:
        c = MeshyClient(KEY, f"http://127.0.0.1:{port}", connect_timeout=0.2, read_timeout=30,
                        retry=RetryPolicy(max_attempts=1))
        start = time.monotonic()
        with pytest.raises(RequestTimeoutError, match="connecting") as info:
            c.balance()
        assert time.monotonic() - start < 2.0 and not info.value.request_sent
    finally:
        for s in [*fillers, listener]:
            s.close()


def test_cancel_interrupts_retry_waits(meshy_server):
    meshy_server.set_faults(http_5xx=10)
    cancel = threading.Event()
    threading.Timer(0.15, cancel.set).start()
    c = MeshyClient(KEY, meshy_server.url, retry=RetryPolicy(base_delay=10, jitter=0))
    start = time.monotonic()
    with pytest.raises(CancelledError):
        c.balance(cancel=cancel)
    assert time.monotonic() - start < 1.0


def test_retry_policy_delays():
    p = RetryPolicy(base_delay=0.5, max_delay=30, jitter=0)
    assert [p.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert p.delay(20) == 30
    assert p.delay(1, retry_after=7) == 7 and p.delay(1, retry_after=99) == 30
    jittery = RetryPolicy(base_delay=1.0, jitter=0.25)
    assert all(0.75 <= jittery.delay(1) <= 1.25 for _ in range(50))
    assert parse_retry_after("3") == 3 and parse_retry_after(None) is None and parse_retry_after("x") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past


def test_tls_certificates_are_always_verified(tmp_path):
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not available")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1024)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        c = MeshyClient(KEY, f"https://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=3, base_delay=0.01))
        with pytest.raises(NetworkError, match="certificate") as info:
            c.balance()
        assert not info.value.retryable and not info.value.request_sent
    finally:
        listener.close()
