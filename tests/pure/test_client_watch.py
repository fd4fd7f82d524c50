"""stream() and watch(): SSE progress, reconnects, polling fallback and cancellation, over real HTTP."""

import itertools
import json
import threading
import time

import pytest
from test_client_support import RawServer, respond

from meshy_blender.meshy import IMAGE_TO_3D, MULTI_IMAGE_TO_3D
from meshy_blender.meshy.client import MeshyClient, RetryPolicy
from meshy_blender.meshy.errors import CancelledError, NotFoundError, StreamNotFoundError

KEY = "msy_dummy_api_key_for_test_mode_12345678"
PNG_URI = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AA"
           "AAMBAQDJ/pLvAAAAAElFTkSuQmCC")
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)
POLL = {"poll_interval": 0.05, "poll_max": 0.1}


def routes(srv):
    return srv.stats()["requests_by_route"]


def test_stream_yields_progress_until_terminal(make_server):
    srv = make_server(task_seconds=0.6)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    snaps = list(c.stream(IMAGE_TO_3D, task_id))
    assert snaps[0].status in ("PENDING", "IN_PROGRESS") and snaps[-1].succeeded
    assert [s for s in snaps if s.is_terminal] == [snaps[-1]]
    progress = [s.progress for s in snaps]
    assert progress == sorted(progress) and len(set(progress)) > 2
    assert snaps[-1].model_urls["glb"] and snaps[-1].type == IMAGE_TO_3D
    assert routes(srv)["stream"] == 1


def test_watch_reports_changes_once(make_server):
    srv = make_server(task_seconds=0.5)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(MULTI_IMAGE_TO_3D, {"image_urls": [PNG_URI, PNG_URI]})
    updates = []
    final = c.watch(MULTI_IMAGE_TO_3D, task_id, on_update=updates.append, **POLL)
    assert final.succeeded and final.id == task_id and updates[-1] == final
    assert all(a != b for a, b in itertools.pairwise(updates))
    assert routes(srv)["retrieve"] == 0


def test_watch_reconnects_after_a_dropped_stream(make_server):
    srv = make_server(task_seconds=0.6, stream_drop_after=2, stream_drops=1)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    updates = []
    final = c.watch(IMAGE_TO_3D, task_id, on_update=updates.append, **POLL)
    assert final.succeeded
    assert routes(srv)["stream"] == 2 and routes(srv)["retrieve"] == 0
    assert len(updates) >= 2


def test_watch_falls_back_to_polling(make_server):
    srv = make_server(task_seconds=0.6, stream_drop_after=0, stream_drops=100)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    updates = []
    final = c.watch(IMAGE_TO_3D, task_id, on_update=updates.append, stream_failures_before_polling=2, **POLL)
    assert final.succeeded
    assert routes(srv)["stream"] == 2 and routes(srv)["retrieve"] >= 2
    assert updates[-1] == final


def test_watch_polling_only(make_server):
    srv = make_server(task_seconds=0.3)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    final = c.watch(IMAGE_TO_3D, task_id, stream_failures_before_polling=0, **POLL)
    assert final.succeeded and routes(srv)["stream"] == 0


def test_watch_failed_task(make_server):
    srv = make_server(task_seconds=0.2)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI, "texture_prompt": "[fail:moderation_blocked]"})
    final = c.watch(IMAGE_TO_3D, task_id, **POLL)
    assert final.failed and final.is_terminal and not final.succeeded
    assert "moderation" in final.error_message and final.task_error.type == "moderation_blocked"
    assert final.consumed_credits == 0


def test_watch_unknown_task_is_not_found(meshy_server):
    c = MeshyClient(KEY, meshy_server.url, retry=FAST)
    with pytest.raises(StreamNotFoundError):
        c.watch(IMAGE_TO_3D, "no-such-task", **POLL)
    with pytest.raises(NotFoundError):
        c.watch(IMAGE_TO_3D, "no-such-task", stream_failures_before_polling=0, **POLL)
    assert routes(meshy_server)["stream"] == 1  # not found is final, not a stream failure


def test_watch_sees_a_forced_status(make_server):
    srv = make_server(task_seconds=60)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    threading.Timer(0.2, lambda: srv.set_task(task_id, status="CANCELED")).start()
    final = c.watch(IMAGE_TO_3D, task_id, **POLL)
    assert final.canceled and "canceled" in final.error_message


def test_stream_connect_retried_on_5xx(make_server):
    srv = make_server(task_seconds=0.1)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    srv.set_faults(http_5xx=1)
    assert list(c.stream(IMAGE_TO_3D, task_id))[-1].succeeded
    assert routes(srv)["stream"] == 2


def test_cancel_while_the_stream_is_idle(make_server):
    srv = make_server(task_seconds=1000, keepalive_seconds=100)
    c = MeshyClient(KEY, srv.url, read_timeout=60, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(CancelledError):
        c.watch(IMAGE_TO_3D, task_id, cancel=cancel, **POLL)
    assert time.monotonic() - start < 1.5  # a blocked read is aborted, not waited out


def test_cancel_while_polling(make_server):
    srv = make_server(task_seconds=1000)
    c = MeshyClient(KEY, srv.url, retry=FAST)
    task_id = c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(CancelledError):
        c.watch(IMAGE_TO_3D, task_id, cancel=cancel, stream_failures_before_polling=0, poll_interval=30)
    assert time.monotonic() - start < 1.0


def test_stalled_stream_times_out_then_polls():
    running = {"id": "t1", "progress": 10, "status": "IN_PROGRESS"}
    done = {"id": "t1", "type": IMAGE_TO_3D, "progress": 100, "status": "SUCCEEDED",
            "model_urls": {"glb": "https://a/m.glb"}}

    def handler(req, sock, n):
        if req.path.endswith("/stream"):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            sock.sendall(b"event: message\ndata: " + json.dumps(running).encode() + b"\n\n")
            time.sleep(1.0)  # then silence: no keep-alive comments
            return False
        respond(sock, 200, json.dumps(done).encode())
        return True

    srv = RawServer(handler)
    try:
        c = MeshyClient(KEY, srv.url, read_timeout=0.2, retry=RetryPolicy(max_attempts=1))
        updates = []
        final = c.watch(IMAGE_TO_3D, "t1", on_update=updates.append, stream_failures_before_polling=1, **POLL)
    finally:
        srv.close()
    assert final.succeeded and [u.status for u in updates] == ["IN_PROGRESS", "SUCCEEDED"]
