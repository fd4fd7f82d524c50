"""The SSE reader: spec framing, incremental parsing, and the client over exact bytes on the wire."""

import json

import pytest
from test_client_support import RawServer, respond

from meshy_blender.meshy import IMAGE_TO_3D
from meshy_blender.meshy.client import MeshyClient, RetryPolicy
from meshy_blender.meshy.errors import NotFoundError, StreamError, StreamNotFoundError
from meshy_blender.meshy.sse import SSEEvent, SSEParser, iter_sse

KEY = "msy_dummy_api_key_for_test_mode_12345678"


def events(raw: bytes, chunk: int | None = None, **kw):
    chunks = [raw] if chunk is None else [raw[i:i + chunk] for i in range(0, len(raw), chunk)]
    return list(iter_sse(chunks, **kw))


def test_basic_event_and_default_type():
    assert events(b"event: message\ndata: {\"a\": 1}\n\n") == [SSEEvent("message", '{"a": 1}')]
    assert events(b"data: x\n\n") == [SSEEvent("message", "x")]
    assert events(b"event: error\ndata: oops\n\n")[0].event == "error"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol):
    raw = eol.join([b"event: message", b"data: one", b"data: two", b"", b"data: three", b"", b""])
    assert events(raw) == [SSEEvent("message", "one\ntwo"), SSEEvent("message", "three")]
    for size in (1, 2, 3, 7):
        assert events(raw, size) == events(raw)


def test_multi_line_data_comments_retry_id():
    raw = (b": keep-alive\n"
           b"retry: 1500\n"
           b"id: 42\n"
           b"data:no-space\n"
           b"data:  two spaces\n"
           b"data\n"
           b"unknown: field\n"
           b"\n"
           b"retry: soon\n"
           b"data: later\n\n")
    first, second = events(raw)
    assert first == SSEEvent("message", "no-space\n two spaces\n", "42", 1500)
    assert second == SSEEvent("message", "later", "42", None)  # id persists; bad retry ignored


def test_empty_data_and_comment_only_blocks_dispatch_nothing():
    assert events(b": ping\n\n: ping\n\nevent: message\n\n") == []


def test_final_event_without_blank_line():
    raw = b"data: complete\n\ndata: cut off"
    assert events(raw) == [SSEEvent("message", "complete")]
    assert events(raw, flush_incomplete=True) == [SSEEvent("message", "complete"), SSEEvent("message", "cut off")]


def test_utf8_split_across_chunks_and_bom():
    raw = "\ufeffdata: é漢字🙂\n\n".encode()
    for size in range(1, 6):
        assert events(raw, size) == [SSEEvent("message", "é漢字🙂")]


def test_crlf_split_between_chunks_is_one_line_ending():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # the LF completes the CRLF, it is not a blank line
    assert parser.feed(b"\r\n") == [SSEEvent("message", "a")]


def test_text_lines_input():
    lines = ["event: message\n", "data: {\"x\": 1}", "", ": c", "data: y\r\n", "\r\n"]
    assert list(iter_sse(lines)) == [SSEEvent("message", '{"x": 1}'), SSEEvent("message", "y")]


# -- the client against exact bytes --------------------------------------------------------------


def sse_server(body: bytes, *, chunked: bool = True, pieces: int = 7):
    def handler(req, sock, n):
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
        if chunked:
            sock.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            step = max(1, len(body) // pieces)
            for i in range(0, len(body), step):
                part = body[i:i + step]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        else:
            sock.sendall((head + "\r\n").encode() + body)
    return RawServer(handler)


def frame(obj, eol="\n", event="message"):
    text = json.dumps(obj, indent=1)  # multi-line JSON -> several data: lines
    lines = [f"event: {event}"] + [f"data: {line}" for line in text.split("\n")] + ["", ""]
    return eol.join(lines).encode()


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("chunked", [True, False])
def test_client_stream_framing_variants(eol, chunked):
    body = (f": hello{eol}retry: 100{eol}{eol}".encode()
            + frame({"id": "t1", "progress": 0, "status": "PENDING"}, eol)
            + f": keep-alive{eol}{eol}".encode()
            + frame({"id": "t1", "progress": 55, "status": "IN_PROGRESS"}, eol)
            + frame({"id": "t1", "progress": 100, "status": "SUCCEEDED", "type": IMAGE_TO_3D,
                     "model_urls": {"glb": "https://a/m.glb"}, "future_field": 1}, eol)
            + frame({"id": "t1", "progress": 100, "status": "SUCCEEDED"}, eol))  # after terminal: unread
    srv = sse_server(body, chunked=chunked)
    try:
        client = MeshyClient(KEY, srv.url, retry=RetryPolicy(base_delay=0.01))
        snaps = list(client.stream(IMAGE_TO_3D, "t1"))
    finally:
        srv.close()
    assert [(t.status, t.progress) for t in snaps] == [("PENDING", 0), ("IN_PROGRESS", 55), ("SUCCEEDED", 100)]
    assert snaps[-1].model_urls == {"glb": "https://a/m.glb"} and snaps[-1].extra == {"future_field": 1}
    assert snaps[1].type == IMAGE_TO_3D  # merged onto the starting snapshot
    req = srv.requests[0]
    assert req.path == "/openapi/v1/image-to-3d/t1/stream"
    assert req.headers["accept"] == "text/event-stream"
    assert req.headers["authorization"] == f"Bearer {KEY}"


def test_client_stream_error_event():
    body = b'event: error\r\ndata: {"status_code": 500,\r\ndata: "message": "boom"}\r\n\r\n'
    srv = sse_server(body)
    try:
        with pytest.raises(StreamError) as info:
            list(MeshyClient(KEY, srv.url).stream(IMAGE_TO_3D, "t1"))
    finally:
        srv.close()
    assert info.value.status_code == 500 and "boom" in str(info.value)
    assert not isinstance(info.value, NotFoundError)


def test_client_stream_error_404_is_not_found():
    srv = sse_server(b'event: error\ndata: {"status_code": 404, "message": "Task not found"}\n\n')
    try:
        with pytest.raises(NotFoundError) as info:
            list(MeshyClient(KEY, srv.url).stream(IMAGE_TO_3D, "gone"))
    finally:
        srv.close()
    assert isinstance(info.value, StreamNotFoundError) and isinstance(info.value, StreamError)
    assert info.value.status_code == 404 and "expired" in info.value.user_message


def test_client_stream_error_event_with_echoed_key_is_redacted():
    srv = sse_server(f'event: error\ndata: {{"status_code": 401, "message": "bad Bearer {KEY}"}}\n\n'.encode())
    try:
        with pytest.raises(StreamError) as info:
            list(MeshyClient(KEY, srv.url).stream(IMAGE_TO_3D, "t1"))
    finally:
        srv.close()
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_client_stream_non_200_maps_to_api_error():
    srv = RawServer(lambda req, sock, n: respond(sock, 404, b'{"message": "Task not found"}'))
    try:
        with pytest.raises(NotFoundError):
            list(MeshyClient(KEY, srv.url).stream(IMAGE_TO_3D, "t1"))
    finally:
        srv.close()
