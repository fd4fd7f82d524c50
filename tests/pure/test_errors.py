"""The error tree: actionable messages, 429 classification, and the API key never leaking."""

import threading
import traceback

import pytest
from test_client_support import RawServer, free_port, respond

from meshy_blender.meshy import IMAGE_TO_3D
from meshy_blender.meshy import errors as E
from meshy_blender.meshy.client import MeshyClient, RetryPolicy

KEY = "msy_dummy_api_key_for_test_mode_12345678"
SECRET = "msy-Secret-Account-Key-0123456789abcdef"
PNG_URI = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AA"
           "AAMBAQDJ/pLvAAAAAElFTkSuQmCC")
FAST = RetryPolicy(max_attempts=2, base_delay=0.01)


def test_hierarchy():
    for cls in (E.BadRequestError, E.AuthenticationError, E.InsufficientCreditsError, E.ForbiddenError,
                E.NotFoundError, E.RateLimitError, E.QueueFullError, E.ServerError):
        assert issubclass(cls, E.ApiError) and issubclass(cls, E.MeshyError)
    assert issubclass(E.RequestTimeoutError, E.NetworkError)
    assert issubclass(E.SubmissionUncertainError, E.NetworkError)
    assert issubclass(E.LinkExpiredError, E.DownloadError)
    assert issubclass(E.StreamNotFoundError, E.StreamError) and issubclass(E.StreamNotFoundError, E.NotFoundError)
    for cls in (E.ValidationError, E.NetworkError, E.StreamError, E.DownloadError, E.CancelledError):
        assert issubclass(cls, E.MeshyError)


@pytest.mark.parametrize(
    ("status", "body", "cls", "words"),
    [
        (400, {"message": "Invalid image count"}, E.BadRequestError, ["Invalid image count"]),
        (401, {"message": "Invalid API key"}, E.AuthenticationError, ["Preferences > Add-ons > Meshy"]),
        (402, {"message": "Insufficient credits"}, E.InsufficientCreditsError, ["credits"]),
        (403, {"message": "no API access"}, E.ForbiddenError, ["no API access", "Pro"]),
        (404, {"message": "Task not found"}, E.NotFoundError, ["expired or been deleted"]),
        (429, {"code": "RateLimitExceeded", "message": "too many"}, E.RateLimitError, ["Too many requests"]),
        (429, {"code": "NoMoreConcurrentTasks", "message": "limit"}, E.QueueFullError, ["submit later"]),
        (429, {"message": "NoMoreConcurrentTasks: limit reached"}, E.QueueFullError, ["queue is full"]),
        (429, None, E.RateLimitError, []),
        (500, None, E.ServerError, ["HTTP 500", "try again later"]),
        (503, {"message": "down"}, E.ServerError, ["HTTP 503"]),
        (418, None, E.ApiError, ["HTTP 418"]),
    ],
)
def test_error_for_status(status, body, cls, words):
    message = body.get("message") if body else None
    err = E.error_for_status(status, message, body, retry_after=2.0)
    assert type(err) is cls and err.status == status and err.body == body
    assert str(err) == err.user_message
    for word in words:
        assert word in str(err)


def test_error_details():
    err = E.InsufficientCreditsError(402, "x", None, balance=12)
    assert err.balance == 12 and "balance: 12 credits" in str(err)
    assert "balance" not in str(E.InsufficientCreditsError())
    assert E.RateLimitError(retry_after=3).retry_after == 3
    v = E.ValidationError("target_polycount", "must be between 100 and 300,000")
    assert v.field == "target_polycount" and "target_polycount" in str(v) and "300,000" in str(v)
    assert isinstance(v, ValueError)
    s = E.StreamError.from_event(500, "boom")
    assert type(s) is E.StreamError and s.status_code == 500 and "boom" in str(s)
    nf = E.StreamError.from_event(404, "Task not found")
    assert isinstance(nf, E.NotFoundError) and nf.status_code == 404 and nf.status == 404
    assert "3 days" in str(E.LinkExpiredError(403))
    assert E.SubmissionUncertainError().request_sent and not E.SubmissionUncertainError().retryable
    assert repr(E.CancelledError()) == "CancelledError('Cancelled.')"


# -- the key never leaks ---------------------------------------------------------------------------


def leak_free(exc: BaseException, key: str) -> None:
    try:
        raise exc
    except BaseException:
        text = traceback.format_exc()
    for rendered in (str(exc), repr(exc), text, getattr(exc, "user_message", ""), repr(exc.args),
                     repr(getattr(exc, "body", None))):
        assert key not in rendered, rendered


def collect(fn):
    try:
        fn()
    except E.MeshyError as exc:
        return exc
    raise AssertionError("no error raised")


def test_key_not_in_repr_of_client():
    c = MeshyClient(SECRET, "http://127.0.0.1:1")
    assert SECRET not in repr(c) and SECRET not in str(c) and SECRET not in repr(vars(c))


def test_key_never_in_errors_from_the_shared_server(make_server):
    srv = make_server(keys={SECRET: 5})
    c = MeshyClient(SECRET, srv.url, retry=FAST)
    raised = [
        collect(lambda: c.create(IMAGE_TO_3D, {"image_url": PNG_URI})),  # 402
        collect(lambda: c.retrieve(IMAGE_TO_3D, "nope")),  # 404
        collect(lambda: list(c.stream(IMAGE_TO_3D, "nope"))),  # stream error event
        collect(lambda: c.create(IMAGE_TO_3D, {"image_url": "https://nowhere.invalid/x.png"})),  # 400
        collect(lambda: MeshyClient(SECRET + "x", srv.url).balance()),  # 401
        collect(lambda: c.create(IMAGE_TO_3D, {"image_url": PNG_URI, "ai_model": "meshy-4"})),  # validation
    ]
    srv.set_faults(reset_after_send=1)
    raised.append(collect(lambda: MeshyClient(KEY, srv.url).create(IMAGE_TO_3D, {"image_url": PNG_URI})))
    srv.set_faults(http_5xx=5)
    raised.append(collect(lambda: c.balance()))
    srv.set_faults()
    srv.set_faults(slow_ms=400)
    raised.append(collect(lambda: MeshyClient(SECRET, srv.url, read_timeout=0.1, retry=FAST).balance()))
    srv.set_faults()
    cancel = threading.Event()
    cancel.set()
    raised.append(collect(lambda: c.watch(IMAGE_TO_3D, "x", cancel=cancel)))
    assert [type(e).__name__ for e in raised] == [
        "InsufficientCreditsError", "NotFoundError", "StreamNotFoundError", "BadRequestError",
        "AuthenticationError", "ValidationError", "SubmissionUncertainError", "ServerError",
        "RequestTimeoutError", "CancelledError"]
    for exc in raised:
        leak_free(exc, SECRET)
        leak_free(exc, KEY)


def test_key_echoed_by_a_server_is_redacted():
    def handler(req, sock, n):
        auth = req.headers["authorization"]
        respond(sock, 400, b'{"message": "bad header %s"}' % auth.encode())

    srv = RawServer(handler)
    try:
        exc = collect(lambda: MeshyClient(SECRET, srv.url, retry=FAST).balance())
    finally:
        srv.close()
    assert isinstance(exc, E.BadRequestError) and "***" in str(exc)
    leak_free(exc, SECRET)


def test_key_not_in_network_errors():
    exc = collect(lambda: MeshyClient(SECRET, f"http://127.0.0.1:{free_port()}", retry=FAST).balance())
    assert isinstance(exc, E.NetworkError)
    leak_free(exc, SECRET)
    invalid = collect(lambda: MeshyClient("msy key with spaces " + SECRET))
    assert isinstance(invalid, E.ValidationError)
    leak_free(invalid, SECRET)
