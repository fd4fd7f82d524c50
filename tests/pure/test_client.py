"""MeshyClient endpoints against the local Meshy-compatible server, over real HTTP."""

import base64
import struct
import threading
import zlib

import pytest
from test_client_support import RawServer, respond

from meshy_blender.meshy import IMAGE_TO_3D, MULTI_IMAGE_TO_3D, __version__
from meshy_blender.meshy.client import MeshyClient, RetryPolicy
from meshy_blender.meshy.errors import (
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    InsufficientCreditsError,
    NotFoundError,
    UnexpectedPageError,
    ValidationError,
)
from meshy_blender.meshy.options import ImageTo3DOptions, MultiImageTo3DOptions
from meshy_blender.meshy.task import Task

KEY = "msy_dummy_api_key_for_test_mode_12345678"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


def png(w=4, h=4) -> bytes:
    raw = b"".join(b"\0" + b"\xc8\x64\x32" * w for _ in range(h))
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG_URI = "data:image/png;base64," + base64.b64encode(png()).decode()


@pytest.fixture
def client(meshy_server):
    c = MeshyClient(KEY, meshy_server.url, retry=FAST)
    yield c
    c.close()


def test_create_retrieve_list_delete_image_to_3d(client, meshy_server):
    task_id = client.create_image_to_3d(ImageTo3DOptions(PNG_URI, ai_model="meshy-6", texture_prompt="oak"))
    assert isinstance(task_id, str) and task_id
    task = client.retrieve(IMAGE_TO_3D, task_id)
    assert isinstance(task, Task) and task.id == task_id and task.type == IMAGE_TO_3D
    assert task.succeeded and task.progress == 100 and "glb" in task.model_urls
    assert task.texture_prompt == "oak" and task.consumed_credits == 30
    listed = client.list_tasks(IMAGE_TO_3D)
    assert [t.id for t in listed] == [task_id]
    client.delete(IMAGE_TO_3D, task_id)
    with pytest.raises(NotFoundError):
        client.retrieve(IMAGE_TO_3D, task_id)
    routes = meshy_server.stats()["requests_by_route"]
    assert routes["create"] == 1 and routes["retrieve"] == 2 and routes["list"] == 1 and routes["delete"] == 1


def test_create_multi_image_and_generic_create(client):
    a = client.create_multi_image_to_3d(MultiImageTo3DOptions(image_urls=[PNG_URI, PNG_URI]))
    b = client.create(MULTI_IMAGE_TO_3D, {"image_urls": [PNG_URI], "should_texture": False})
    c = client.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    assert client.retrieve(MULTI_IMAGE_TO_3D, b).consumed_credits == 20
    assert {t.id for t in client.list_tasks(MULTI_IMAGE_TO_3D)} == {a, b}
    assert [t.id for t in client.list_tasks(IMAGE_TO_3D)] == [c]
    with pytest.raises(NotFoundError):  # a task of the other kind
        client.retrieve(IMAGE_TO_3D, a)
    with pytest.raises(ValidationError, match="ImageTo3DOptions"):
        client.create(IMAGE_TO_3D, MultiImageTo3DOptions(image_urls=[PNG_URI]))
    with pytest.raises(ValidationError, match="kind"):
        client.create("text-to-3d", {"image_url": PNG_URI})


def test_input_file_url_on_server(client, meshy_server):
    url = meshy_server.add_file("chair.png", png(), "image/png")
    task_id = client.create_image_to_3d(ImageTo3DOptions(url))
    assert client.retrieve(IMAGE_TO_3D, task_id).succeeded


def test_list_tasks_paging_and_sort(client):
    ids = [client.create(IMAGE_TO_3D, {"image_url": PNG_URI}) for _ in range(3)]
    assert [t.id for t in client.list_tasks(IMAGE_TO_3D, sort_by="+created_at")] == ids
    assert [t.id for t in client.list_tasks(IMAGE_TO_3D, page_num=2, page_size=2)] == [ids[0]]
    assert client.list_tasks(IMAGE_TO_3D, page_num=5, page_size=50) == []
    for kwargs, field in [({"page_num": 0}, "page_num"), ({"page_size": 0}, "page_size"),
                          ({"page_size": 51}, "page_size"), ({"sort_by": "created_at"}, "sort_by"),
                          ({"page_num": True}, "page_num")]:
        with pytest.raises(ValidationError, match=field):
            client.list_tasks(IMAGE_TO_3D, **kwargs)


def test_balance(make_server):
    srv = make_server(keys={"msy-account-a": 100})
    with MeshyClient("msy-account-a", srv.url, retry=FAST) as c:
        assert c.balance() == 100
        c.create(IMAGE_TO_3D, {"image_url": PNG_URI, "ai_model": "meshy-5"})
        assert c.balance() == 85
    assert MeshyClient(KEY, srv.url).balance() == 1_000_000


def test_validation_happens_before_any_request(client, meshy_server):
    with pytest.raises(ValidationError, match="meshy-4"):
        client.create(IMAGE_TO_3D, ImageTo3DOptions(PNG_URI, ai_model="meshy-4"))
    with pytest.raises(ValidationError, match="task_id"):
        client.retrieve(IMAGE_TO_3D, "")
    assert meshy_server.stats()["requests"] == 0


def test_400_shows_server_message(client):
    with pytest.raises(BadRequestError) as info:
        client.create(IMAGE_TO_3D, {"image_url": "https://example.invalid/x.png"})
    assert info.value.status == 400 and "Unreachable URL" in str(info.value)


def test_401_points_at_preferences(meshy_server):
    bad_key = "msy-not-a-real-key-abcdef123456"
    with pytest.raises(AuthenticationError) as info:
        MeshyClient(bad_key, meshy_server.url, retry=FAST).retrieve(IMAGE_TO_3D, "x")
    assert info.value.status == 401
    assert "Preferences > Add-ons > Meshy" in info.value.user_message
    assert meshy_server.stats()["requests_by_route"]["retrieve"] == 1  # not retried


def test_402_shows_balance(make_server):
    srv = make_server(keys={"msy-poor-account": 10})
    c = MeshyClient("msy-poor-account", srv.url, retry=FAST)
    with pytest.raises(InsufficientCreditsError) as info:
        c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    assert info.value.status == 402 and info.value.balance == 10
    assert "10 credits" in str(info.value)
    assert srv.stats()["requests_by_route"]["create"] == 1


def test_403_and_odd_bodies():
    answers = iter([
        (403, b'{"message": "API access requires a Pro plan"}', {}),
        (404, b"<html>gone</html>", {"Content-Type": "text/html"}),
        (418, b"plain teapot", {}),
    ])

    def handler(req, sock, n):
        status, body, headers = next(answers)
        respond(sock, status, body, headers)

    srv = RawServer(handler)
    try:
        c = MeshyClient(KEY, srv.url, retry=FAST)
        with pytest.raises(ForbiddenError) as info:
            c.balance()
        assert "Pro plan" in str(info.value) and info.value.status == 403
        with pytest.raises(UnexpectedPageError) as info:  # a web page is no proof that the task is gone
            c.retrieve(IMAGE_TO_3D, "x")
        assert "<html>" not in str(info.value) and not isinstance(info.value, NotFoundError)
        from meshy_blender.meshy.errors import ApiError
        with pytest.raises(ApiError) as info:
            c.balance()
        assert info.value.status == 418 and "plain teapot" in str(info.value)
    finally:
        srv.close()


def test_headers_user_agent_and_paths():
    seen = []

    def handler(req, sock, n):
        seen.append(req)
        respond(sock, 200, b'{"balance": 7}' if "balance" in req.path else b'{"result": "abc"}')
        return True

    srv = RawServer(handler)
    try:
        for base in (srv.url, srv.url + "/", srv.url + "/openapi/v1"):
            c = MeshyClient(KEY, base, retry=FAST)
            assert c.balance() == 7
        assert c.create(IMAGE_TO_3D, {"image_url": PNG_URI}) == "abc"
    finally:
        srv.close()
    assert [r.path for r in seen] == ["/openapi/v1/balance"] * 3 + ["/openapi/v1/image-to-3d"]
    post = seen[-1]
    assert post.method == "POST" and post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"].startswith(f"meshy-blender/{__version__} (Python 3.")
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.body == b'{"image_url":"' + PNG_URI.encode() + b'"}'


def test_create_accepts_any_2xx_and_needs_an_id():
    from meshy_blender.meshy.errors import SubmissionUncertainError

    answers = iter([(200, b'{"result": "id-200"}'), (201, b'{"result": "id-201"}'), (202, b"{}")])
    srv = RawServer(lambda req, sock, n: respond(sock, *next(answers)))
    try:
        c = MeshyClient(KEY, srv.url, retry=FAST)
        assert c.create(IMAGE_TO_3D, {"image_url": PNG_URI}) == "id-200"
        assert c.create(IMAGE_TO_3D, {"image_url": PNG_URI}) == "id-201"
        with pytest.raises(SubmissionUncertainError):
            c.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    finally:
        srv.close()


def test_connections_are_reused_and_dead_ones_replaced():
    def keep_alive(req, sock, n):
        respond(sock, 200, b'{"balance": 1}')
        return True

    def close_silently(req, sock, n):  # closes after answering, without "Connection: close"
        respond(sock, 200, b'{"balance": 2}')
        return False

    srv = RawServer(keep_alive)
    try:
        c = MeshyClient(KEY, srv.url, retry=FAST)
        for _ in range(5):
            assert c.balance() == 1
        assert len(srv._conns) == 1
    finally:
        srv.close()
    srv = RawServer(close_silently)
    try:
        c = MeshyClient(KEY, srv.url, retry=RetryPolicy(max_attempts=1))
        for _ in range(3):
            assert c.balance() == 2  # a pooled connection the server closed is never used
        assert len(srv._conns) == 3
    finally:
        srv.close()


def test_client_is_thread_safe(client, meshy_server):
    task_id = client.create(IMAGE_TO_3D, {"image_url": PNG_URI})
    errors = []

    def work():
        try:
            for _ in range(10):
                assert client.retrieve(IMAGE_TO_3D, task_id).id == task_id
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert meshy_server.stats()["requests_by_route"]["retrieve"] == 60


def test_constructor_checks():
    with pytest.raises(ValidationError, match="api_key"):
        MeshyClient("")
    with pytest.raises(ValidationError, match="api_key") as info:
        MeshyClient("msy-abc\r\nX-Evil: 1")
    assert "Evil" not in str(info.value)
    with pytest.raises(ValidationError, match="base_url"):
        MeshyClient(KEY, "api.meshy.ai")
    assert MeshyClient(f"  {KEY}\n")._headers()["Authorization"] == f"Bearer {KEY}"  # pasted whitespace
