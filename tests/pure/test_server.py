"""The local Meshy-compatible server, exercised over real HTTP with the standard library only."""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
I23 = "/openapi/v1/image-to-3d"
M23 = "/openapi/v1/multi-image-to-3d"


# --------------------------------------------------------------------------- helpers


def make_png(w: int = 8, h: int = 4, rgb=(200, 30, 40)) -> bytes:
    """A real RGB PNG (written here, not by the server module, to keep the test independent)."""
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_jpeg(w: int = 16, h: int = 9) -> bytes:
    """A JPEG header stream (SOI, APP0, SOF0, EOI): enough for magic-byte and size sniffing."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


PNG = make_png()
JPEG = make_jpeg()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


PNG_URI = data_uri(PNG)


class Resp:
    """Status, headers and body of one response."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)


def call(srv, method, path, body=None, key=TEST_KEY, headers=None, raw: bytes | None = None) -> Resp:
    """One request over urllib; HTTP errors are returned, not raised."""
    url = path if path.startswith("http") else srv.url + path
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def create(srv, body=None, kind=I23, key=TEST_KEY) -> str:
    payload = {"image_url": PNG_URI} if kind == I23 else {"image_urls": [PNG_URI]}
    payload.update(body or {})
    r = call(srv, "POST", kind, payload, key=key)
    assert r.status == 202, r.body
    return r.json["result"]


def get(srv, tid, kind=I23, key=TEST_KEY) -> dict:
    r = call(srv, "GET", f"{kind}/{tid}", key=key)
    assert r.status == 200, r.body
    return r.json


def fetch(url, headers=None) -> Resp:
    return call(None, "GET", url, key=None, headers=headers)


def wait_status(srv, tid, statuses, kind=I23, key=TEST_KEY, timeout=5.0) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        t = get(srv, tid, kind, key)
        if t["status"] in statuses:
            return t
        time.sleep(0.01)
    raise AssertionError(f"task {tid} never reached {statuses}")


def parse_glb(data: bytes):
    """Independent GLB parser: header, 4-byte aligned JSON and BIN chunks."""
    magic, version, total = struct.unpack("<4sII", data[:12])
    assert (magic, version, total) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    assert jtype == b"JSON" and jlen % 4 == 0
    gltf = json.loads(data[20 : 20 + jlen])
    blen, btype = struct.unpack("<I4s", data[20 + jlen : 28 + jlen])
    assert btype == b"BIN\x00" and blen % 4 == 0
    binary = data[28 + jlen :]
    assert len(binary) == blen == gltf["buffers"][0]["byteLength"]
    return gltf, binary


def view_bytes(gltf, binary, view_index) -> bytes:
    v = gltf["bufferViews"][view_index]
    return binary[v.get("byteOffset", 0) : v.get("byteOffset", 0) + v["byteLength"]]


def stream_raw(srv, tid, kind=I23, key=TEST_KEY, timeout=10) -> tuple[http.client.HTTPResponse, str]:
    u = urlsplit(srv.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    conn.request("GET", f"{kind}/{tid}/stream", headers={"Authorization": f"Bearer {key}"})
    resp = conn.getresponse()
    try:
        text = resp.read().decode()
    except http.client.IncompleteRead as e:
        text = e.partial.decode()
    conn.close()
    return resp, text


def sse_events(text: str) -> list[tuple[str, dict]]:
    """Parse SSE blocks: (event name, JSON data); blocks without data (retry/comments) are skipped."""
    out = []
    for block in text.split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            f, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if f == "event":
                name = v
            elif f == "data":
                data.append(v)
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


# --------------------------------------------------------------------------- shapes


def test_create_and_retrieve_image_to_3d_shape(meshy_server):
    r = call(meshy_server, "POST", I23, {"image_url": PNG_URI})
    assert r.status == 202 and set(r.json) == {"result"}
    t = get(meshy_server, r.json["result"])
    assert t["id"] == r.json["result"] and t["type"] == "image-to-3d"
    assert t["status"] == "SUCCEEDED" and t["progress"] == 100
    assert set(t["model_urls"]) == {"glb", "fbx", "obj", "usdz", "stl", "mtl"}
    assert t["model_url"] == t["model_urls"]["glb"]
    assert t["thumbnail_url"].startswith(meshy_server.url + "/assets/")
    assert "thumbnail_urls" not in t and "alpha_thumbnail_url" not in t
    assert t["texture_urls"] == [{"base_color": t["texture_urls"][0]["base_color"]}]
    assert t["task_error"] == {"message": ""} and t["preceding_tasks"] == 0
    assert t["consumed_credits"] == 30 and t["texture_prompt"] == ""
    assert 0 < t["created_at"] <= t["started_at"] <= t["finished_at"] < t["expires_at"]


def test_multi_image_shape_and_counts(meshy_server):
    tid = create(meshy_server, {"image_urls": [PNG_URI, data_uri(JPEG, "image/jpeg")]}, kind=M23)
    t = get(meshy_server, tid, M23)
    assert t["type"] == "multi-image-to-3d" and t["status"] == "SUCCEEDED"
    for n in (0, 5):
        r = call(meshy_server, "POST", M23, {"image_urls": [PNG_URI] * n})
        assert r.status == 400 and "image_urls" in r.json["message"]
    assert call(meshy_server, "POST", M23, {"image_url": PNG_URI}).status == 400
    # The same id is not visible under the other kind.
    assert call(meshy_server, "GET", f"{I23}/{tid}").status == 404


def test_ids_are_k_sortable(meshy_server):
    ids = [create(meshy_server) for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids)


def test_options_shape_thumbnails_formats(meshy_server):
    tid = create(
        meshy_server,
        {
            "multi_view_thumbnails": True,
            "alpha_thumbnail": True,
            "target_formats": ["stl", "3mf"],
            "save_pre_remeshed_model": True,
            "texture_prompt": "wood",
        },
    )
    t = get(meshy_server, tid)
    assert set(t["model_urls"]) == {"stl", "3mf", "pre_remeshed_glb"}
    assert "model_url" not in t
    assert set(t["thumbnail_urls"]) == {"front", "right", "back", "left"}
    assert t["texture_prompt"] == "wood"
    alpha = fetch(t["alpha_thumbnail_url"])
    assert alpha.status == 200 and alpha.body[25] == 6  # PNG colour type RGBA
    for url in t["thumbnail_urls"].values():
        assert fetch(url).body.startswith(b"\x89PNG")


def test_untextured_has_no_textures_and_no_mtl(meshy_server):
    tid = create(meshy_server, {"should_texture": False, "target_formats": ["glb", "obj"]})
    t = get(meshy_server, tid)
    assert set(t["model_urls"]) == {"glb", "obj"} and t["texture_urls"] == []
    assert t["consumed_credits"] == 20
    gltf, _ = parse_glb(fetch(t["model_urls"]["glb"]).body)
    assert "images" not in gltf and "textures" not in gltf
    assert "baseColorFactor" in gltf["materials"][0]["pbrMetallicRoughness"]
    obj = fetch(t["model_urls"]["obj"]).body.decode()
    assert "mtllib" not in obj


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (I23, {}, "image_url"),
        (I23, {"image_url": PNG_URI, "input_task_id": "x"}, "image_url"),
        (I23, {"image_url": 5}, "image_url"),
        (I23, {"image_url": "data:image/gif;base64,R0lGOD"}, "image_url"),
        (I23, {"image_url": data_uri(b"GIF89a....")}, "image_url"),
        (I23, {"image_url": "data:image/png;base64,!!notbase64!!"}, "image_url"),
        (I23, {"image_url": "https://example.com/cat.png"}, "Unreachable URL"),
        (I23, {"image_url": "ftp://example.com/cat.png"}, "image_url"),
        (I23, {"input_task_id": "nope"}, "input_task_id"),
        (I23, {"image_url": PNG_URI, "ai_model": "meshy-4"}, "retired"),
        (I23, {"image_url": PNG_URI, "ai_model": "meshy-9"}, "ai_model"),
        (I23, {"image_url": PNG_URI, "model_type": "hero"}, "model_type"),
        (I23, {"image_url": PNG_URI, "should_texture": "yes"}, "should_texture"),
        (I23, {"image_url": PNG_URI, "should_texture": False, "enable_pbr": True}, "enable_pbr"),
        (I23, {"image_url": PNG_URI, "ai_model": "meshy-5", "hd_texture": True}, "hd_texture"),
        (I23, {"image_url": PNG_URI, "ai_model": "meshy-5", "image_enhancement": False}, "image_enhancement"),
        (I23, {"image_url": PNG_URI, "ai_model": "meshy-5", "remove_lighting": False}, "remove_lighting"),
        (I23, {"image_url": PNG_URI, "texture_prompt": "x" * 601}, "texture_prompt"),
        (I23, {"image_url": PNG_URI, "texture_prompt": 3}, "texture_prompt"),
        (I23, {"image_url": PNG_URI, "texture_image_url": "https://example.com/t.png"}, "texture_image_url"),
        (I23, {"image_url": PNG_URI, "topology": "ngon"}, "topology"),
        (I23, {"image_url": PNG_URI, "target_polycount": 99}, "target_polycount"),
        (I23, {"image_url": PNG_URI, "target_polycount": 300001}, "target_polycount"),
        (I23, {"image_url": PNG_URI, "target_polycount": "1000"}, "target_polycount"),
        (I23, {"image_url": PNG_URI, "target_polycount": True}, "target_polycount"),
        (I23, {"image_url": PNG_URI, "symmetry_mode": "maybe"}, "symmetry_mode"),
        (I23, {"image_url": PNG_URI, "pose_mode": "x-pose"}, "pose_mode"),
        (I23, {"image_url": PNG_URI, "is_a_t_pose": 1}, "is_a_t_pose"),
        (I23, {"image_url": PNG_URI, "origin_at": "top"}, "origin_at"),
        (I23, {"image_url": PNG_URI, "target_formats": ["glb", "blend"]}, "target_formats"),
        (I23, {"image_url": PNG_URI, "target_formats": "glb"}, "target_formats"),
        (I23, {"image_url": PNG_URI, "target_formats": []}, "target_formats"),
        (I23, {"image_url": PNG_URI, "webhook_url": 1}, "webhook_url"),
        (I23, {"image_url": PNG_URI, "multi_view_thumbnails": "true"}, "multi_view_thumbnails"),
        (M23, {"image_urls": PNG_URI}, "image_urls"),
        (M23, {"image_urls": [PNG_URI, 7]}, "image_urls"),
        (M23, {"image_urls": [PNG_URI, "data:image/png;base64,AAAA"]}, "image_urls[1]"),
        (M23, {"image_urls": [PNG_URI], "should_remesh": "no"}, "should_remesh"),
    ],
)
def test_validation_errors_name_the_field(meshy_server, kind, body, field):
    r = call(meshy_server, "POST", kind, body)
    assert r.status == 400, r.body
    assert field in r.json["message"]
    assert meshy_server.stats()["creates"] == 0


def test_invalid_json_and_non_object_bodies(meshy_server):
    assert call(meshy_server, "POST", I23, raw=b"{not json").status == 400
    assert call(meshy_server, "POST", I23, raw=b"[1, 2]").status == 400


def test_accepted_image_forms_and_unknown_fields(meshy_server):
    for uri in (data_uri(JPEG, "image/jpeg"), data_uri(JPEG, "image/jpg"), data_uri(PNG, "image/png")):
        create(meshy_server, {"image_url": uri, "some_future_field": {"x": 1}})
    url = meshy_server.add_file("cat.png", PNG, "image/png")
    tid = create(meshy_server, {"image_url": url, "texture_image_url": url})
    t = get(meshy_server, tid)
    # A task's own asset URL on this server is a valid input too.
    create(meshy_server, {"image_url": t["texture_urls"][0]["base_color"]})
    # input_task_id reuses a SUCCEEDED task's image.
    r = call(meshy_server, "POST", I23, {"input_task_id": tid})
    assert r.status == 202


def test_image_size_limit(make_server):
    # The real limit is 100 MB; a small one keeps the test fast while using the same code path.
    srv = make_server(max_image_bytes=len(PNG) + 10)
    create(srv, {"image_url": data_uri(PNG + b"\x00" * 10)})
    r = call(srv, "POST", I23, {"image_url": data_uri(PNG + b"\x00" * 11)})
    assert r.status == 400 and "100 MB" in r.json["message"] and "image_url" in r.json["message"]
    url = srv.add_file("big.png", PNG + b"\x00" * 11)
    assert call(srv, "POST", M23, {"image_urls": [url]}).status == 400


def test_meshy5_accepts_defaults_of_meshy6_only_options(meshy_server):
    body = {"ai_model": "meshy-5", "hd_texture": False, "image_enhancement": True, "remove_lighting": True}
    tid = create(meshy_server, body)
    assert get(meshy_server, tid)["consumed_credits"] == 15


# --------------------------------------------------------------------------- auth, credits


@pytest.mark.parametrize("path", [I23, M23, f"{I23}/abc", f"{M23}/abc/stream", "/openapi/v1/balance"])
@pytest.mark.parametrize("key", [None, "msy-wrong"])
def test_auth_required(meshy_server, path, key):
    r = call(meshy_server, "GET", path, key=key)
    assert r.status == 401 and r.json == {"message": "Invalid API key"}


@pytest.mark.parametrize(
    ("model", "textured", "cost"),
    [("meshy-6", True, 30), ("latest", True, 30), ("meshy-6", False, 20), ("meshy-5", True, 15), ("meshy-5", False, 5)],
)
def test_credit_table(make_server, model, textured, cost):
    srv = make_server(keys={"msy-acct": 100})
    tid = create(srv, {"ai_model": model, "should_texture": textured}, key="msy-acct")
    assert get(srv, tid, key="msy-acct")["consumed_credits"] == cost
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json == {"balance": 100 - cost}


def test_insufficient_credits_402_and_test_key_free(make_server):
    srv = make_server(keys={"msy-poor": 25})
    create(srv, {"should_texture": False}, key="msy-poor")  # 20 -> 5 left
    r = call(srv, "POST", I23, {"image_url": PNG_URI}, key="msy-poor")
    assert r.status == 402 and r.json["message"].startswith("Insufficient credits")
    before = call(srv, "GET", "/openapi/v1/balance").json["balance"]
    create(srv)
    assert call(srv, "GET", "/openapi/v1/balance").json["balance"] == before
    assert srv.stats()["creates_by_key"] == {"****poor": 1, "****5678": 1}


def test_test_key_credits_reported(make_server):
    srv = make_server(test_key_credits=10)
    assert call(srv, "GET", "/openapi/v1/balance").json == {"balance": 10}
    assert call(srv, "POST", I23, {"image_url": PNG_URI}).status == 402


def test_failure_trigger_refunds(make_server):
    srv = make_server(keys={"msy-acct": 100}, task_seconds=0.2)
    tid = create(srv, {"texture_prompt": "red [fail:moderation_blocked]"}, key="msy-acct")
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json["balance"] == 70
    t0 = time.time()
    while (t := get(srv, tid, key="msy-acct"))["status"] != "FAILED":
        time.sleep(0.01)
    assert time.time() - t0 < 0.2  # fails at about half the task time
    assert t["task_error"]["type"] == "moderation_blocked" and "moderation" in t["task_error"]["message"]
    assert t["consumed_credits"] == 0 and t["model_urls"] == {} and t["texture_urls"] == []
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json["balance"] == 100
    tid2 = create(srv, {"texture_prompt": "[fail:image_too_complex]"}, key="msy-acct")
    err = wait_status(srv, tid2, {"FAILED"}, key="msy-acct")["task_error"]
    assert err["type"] == "image_too_complex" and err["code"] and err["message"]


# --------------------------------------------------------------------------- lifecycle


def test_progress_is_observable(make_server):
    srv = make_server(task_seconds=0.6)
    tid = create(srv)
    seen = []
    while True:
        t = get(srv, tid)
        seen.append((t["status"], t["progress"], t["started_at"], t["finished_at"], t["preceding_tasks"]))
        if t["status"] == "SUCCEEDED":
            break
        time.sleep(0.01)
    statuses = [s[0] for s in seen]
    assert statuses[0] == "PENDING" and "IN_PROGRESS" in statuses and statuses[-1] == "SUCCEEDED"
    pend = [s for s in seen if s[0] == "PENDING"]
    assert all(s[2] == 0 and s[3] == 0 and s[1] == 0 for s in pend) and pend[0][4] > 0
    running = [s for s in seen if s[0] == "IN_PROGRESS"]
    assert all(s[2] > 0 and s[3] == 0 and s[1] < 100 for s in running)
    progress = [s[1] for s in running]
    assert progress == sorted(progress) and progress[-1] > 50
    assert seen[-1][1] == 100 and seen[-1][3] > 0


def test_list_pagination_and_sort(meshy_server, make_server):
    ids = [create(meshy_server) for _ in range(5)]
    create(meshy_server, kind=M23)
    r = call(meshy_server, "GET", f"{I23}?page_num=1&page_size=2&sort_by=-created_at")
    assert r.status == 200 and [t["id"] for t in r.json] == ids[::-1][:2]
    page3 = call(meshy_server, "GET", f"{I23}?page_num=3&page_size=2&sort_by=-created_at").json
    assert [t["id"] for t in page3] == [ids[0]]
    asc = call(meshy_server, "GET", f"{I23}?sort_by=%2Bcreated_at").json
    assert [t["id"] for t in asc] == ids
    assert [t["id"] for t in call(meshy_server, "GET", f"{I23}?sort_by=+created_at").json] == ids
    assert len(call(meshy_server, "GET", I23).json) == 5
    assert len(call(meshy_server, "GET", M23).json) == 1
    assert call(meshy_server, "GET", f"{I23}?page_size=50").status == 200
    for q in ("page_size=51", "page_size=0", "page_num=0", "page_num=x", "sort_by=name"):
        r = call(meshy_server, "GET", f"{I23}?{q}")
        assert r.status == 400 and q.split("=")[0] in r.json["message"]


def test_tasks_are_private_per_key(make_server):
    srv = make_server(keys={"msy-a": 100, "msy-b": 100})
    tid = create(srv, key="msy-a")
    assert call(srv, "GET", f"{I23}/{tid}", key="msy-b").status == 404
    assert call(srv, "GET", I23, key="msy-b").json == []
    assert call(srv, "DELETE", f"{I23}/{tid}", key="msy-b").status == 404


def test_unknown_task_404(meshy_server):
    r = call(meshy_server, "GET", f"{I23}/0190aaaa-0000-7000-8000-000000000000")
    assert r.status == 404 and r.json == {"message": "Task not found"}


def test_delete_finished_task(make_server):
    srv = make_server(keys={"msy-acct": 100})
    tid = create(srv, key="msy-acct")
    r = call(srv, "DELETE", f"{I23}/{tid}", key="msy-acct")
    assert r.status == 200
    assert call(srv, "GET", f"{I23}/{tid}", key="msy-acct").status == 404
    assert call(srv, "DELETE", f"{I23}/{tid}", key="msy-acct").status == 404
    assert call(srv, "GET", I23, key="msy-acct").json == []
    # A finished task keeps its cost.
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json["balance"] == 70


def test_delete_running_task_cancels_open_stream(make_server):
    import threading

    srv = make_server(task_seconds=5, keepalive_seconds=0.05, keys={"msy-acct": 100})
    tid = create(srv, key="msy-acct")
    out = {}
    th = threading.Thread(target=lambda: out.update(text=stream_raw(srv, tid, key="msy-acct")[1]))
    th.start()
    time.sleep(0.3)
    assert call(srv, "DELETE", f"{I23}/{tid}", key="msy-acct").status == 200
    th.join(5)
    events = sse_events(out["text"])
    assert events[-1][1]["status"] == "CANCELED" and events[-1][1]["consumed_credits"] == 0
    assert call(srv, "GET", f"{I23}/{tid}", key="msy-acct").status == 404
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json["balance"] == 100


def test_set_task_forces_state(meshy_server):
    tid = create(meshy_server)
    meshy_server.set_task(tid, status="IN_PROGRESS", progress=42)
    t = get(meshy_server, tid)
    assert (t["status"], t["progress"], t["finished_at"], t["model_urls"]) == ("IN_PROGRESS", 42, 0, {})
    r = call(meshy_server, "POST", f"/_control/tasks/{tid}", {"status": "FAILED", "task_error": {"message": "boom"}})
    assert r.status == 200
    t = get(meshy_server, tid)
    assert t["status"] == "FAILED" and t["task_error"] == {"message": "boom"} and t["consumed_credits"] == 0
    meshy_server.set_task(tid, status=None, task_error=None)
    assert get(meshy_server, tid)["status"] == "SUCCEEDED"
    assert call(meshy_server, "POST", "/_control/tasks/nope", {"status": "FAILED"}).status == 404


# --------------------------------------------------------------------------- stream


def test_stream_framing_and_terminal_object(make_server):
    srv = make_server(task_seconds=0.3)
    tid = create(srv)
    resp, text = stream_raw(srv, tid)
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert text.startswith(": ") and "\nretry: " in text.split("\n\n")[0]
    events = sse_events(text)
    assert all(name == "message" for name, _ in events)
    running = [d for _, d in events[:-1]]
    assert running and all(set(d) <= {"id", "progress", "status", "preceding_tasks"} for d in running)
    assert {d["status"] for d in running} <= {"PENDING", "IN_PROGRESS"}
    assert running[0]["status"] == "PENDING" and any(d["status"] == "IN_PROGRESS" for d in running)
    progress = [d["progress"] for d in running]
    assert progress == sorted(progress)
    final = events[-1][1]
    assert final["status"] == "SUCCEEDED" and final["model_urls"]["glb"] and final["progress"] == 100
    assert final == {**get(srv, tid), "expires_at": final["expires_at"]}
    for block in text.strip().split("\n\n"):
        if "data:" in block:
            assert block.count("data:") == 1  # one-line JSON


def test_stream_instant_task_shows_pending_then_final(meshy_server):
    tid = create(meshy_server)
    events = sse_events(stream_raw(meshy_server, tid)[1])
    assert [d["status"] for _, d in events] == ["PENDING", "SUCCEEDED"]


def test_stream_keepalive_resends_same_message(make_server):
    srv = make_server(task_seconds=5, keepalive_seconds=0.05)
    tid = create(srv)
    srv.set_task(tid, status="IN_PROGRESS", progress=10)
    import threading

    threading.Timer(0.4, lambda: srv.set_task(tid, status="SUCCEEDED")).start()
    events = sse_events(stream_raw(srv, tid)[1])
    same = [d for _, d in events if d.get("progress") == 10 and d["status"] == "IN_PROGRESS"]
    assert len(same) >= 4 and all(d == same[0] for d in same)
    assert events[-1][1]["status"] == "SUCCEEDED"


def test_stream_unknown_task_error_event(meshy_server):
    resp, text = stream_raw(meshy_server, "does-not-exist")
    assert resp.status == 200
    assert sse_events(text) == [("error", {"status_code": 404, "message": "Task not found"})]


def test_stream_failed_task_terminal(make_server):
    srv = make_server(task_seconds=0.1)
    tid = create(srv, {"texture_prompt": "[fail:image_too_complex]"})
    final = sse_events(stream_raw(srv, tid)[1])[-1][1]
    assert final["status"] == "FAILED" and final["task_error"]["type"] == "image_too_complex"


# --------------------------------------------------------------------------- assets


def _done(srv, body=None, kind=I23):
    return get(srv, create(srv, body, kind), kind)


def test_assets_signed_no_auth_needed(meshy_server):
    t = _done(meshy_server)
    url = t["model_urls"]["glb"]
    assert fetch(url).status == 200
    assert meshy_server.stats()["asset_requests_with_auth"] == 0
    call(meshy_server, "GET", url)  # sends Authorization
    assert meshy_server.stats()["asset_requests_with_auth"] == 1
    bad = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert fetch(bad).status == 403
    assert fetch(url.split("?")[0]).status == 403
    other = url.replace("model.glb", "model.obj")  # signature belongs to another file
    assert fetch(other).status == 403


def test_assets_expire(meshy_server):
    t = _done(meshy_server)
    url = t["model_urls"]["glb"]
    meshy_server.set_task(t["id"], expires_at=int(time.time() * 1000) - 1)
    assert fetch(url).status == 403
    assert get(meshy_server, t["id"])["expires_at"] < time.time() * 1000


def test_expires_seconds_controls_links(make_server):
    srv = make_server(expires_seconds=0.05)
    t = _done(srv)
    time.sleep(0.1)
    assert fetch(t["thumbnail_url"]).status == 403


def test_asset_range_requests(meshy_server):
    t = _done(meshy_server)
    url = t["model_urls"]["glb"]
    full = fetch(url)
    assert full.headers["Accept-Ranges"] == "bytes" and full.headers["ETag"]
    part = fetch(url, {"Range": "bytes=100-"})
    assert part.status == 206 and part.body == full.body[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(full.body) - 1}/{len(full.body)}"
    mid = fetch(url, {"Range": "bytes=10-19"})
    assert mid.status == 206 and mid.body == full.body[10:20]
    assert fetch(url, {"Range": f"bytes={len(full.body)}-"}).status == 416


def test_no_range_fault(meshy_server):
    t = _done(meshy_server)
    meshy_server.set_faults(no_range=True)
    r = fetch(t["model_urls"]["glb"], {"Range": "bytes=100-"})
    assert r.status == 200 and "Accept-Ranges" not in r.headers
    assert len(r.body) == int(r.headers["Content-Length"]) > 100


def test_deleted_task_assets_gone(meshy_server):
    t = _done(meshy_server)
    call(meshy_server, "DELETE", f"{I23}/{t['id']}")
    assert fetch(t["model_urls"]["glb"]).status == 404


def test_http_keep_alive_and_content_length(meshy_server):
    u = urlsplit(meshy_server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    h = {"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"}
    socks = set()
    for _ in range(3):
        conn.request("POST", I23, json.dumps({"image_url": PNG_URI}), h)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 202 and int(r.getheader("Content-Length")) == len(body)
        socks.add(id(conn.sock))
        conn.request("DELETE", f"{I23}/{json.loads(body)['result']}", headers=h)
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b""
    assert len(socks) == 1
    conn.close()


# --------------------------------------------------------------------------- GLB and other outputs


def _glb(srv, body=None, kind=I23):
    t = _done(srv, body, kind)
    return t, parse_glb(fetch(t["model_urls"]["glb"]).body)


def test_glb_structure_is_valid(meshy_server):
    _, (gltf, binary) = _glb(meshy_server)
    assert gltf["asset"]["version"] == "2.0"
    prim = gltf["meshes"][0]["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TEXCOORD_0"}
    acc = gltf["accessors"]
    pos = acc[prim["attributes"]["POSITION"]]
    n = pos["count"]
    assert all(acc[i]["count"] == n for i in prim["attributes"].values())
    sizes = {"VEC3": 12, "VEC2": 8}
    for name, i in prim["attributes"].items():
        a = acc[i]
        view = gltf["bufferViews"][a["bufferView"]]
        assert view["target"] == 34962 and a["componentType"] == 5126, name
        assert view["byteLength"] == n * sizes[a["type"]] and view["byteOffset"] % 4 == 0
    idx = acc[prim["indices"]]
    iview = gltf["bufferViews"][idx["bufferView"]]
    assert iview["target"] == 34963 and idx["type"] == "SCALAR"
    width = {5123: 2, 5125: 4}[idx["componentType"]]
    assert iview["byteLength"] == idx["count"] * width and idx["count"] % 3 == 0
    fmt = f"<{idx['count']}{'H' if width == 2 else 'I'}"
    assert max(struct.unpack(fmt, view_bytes(gltf, binary, idx["bufferView"]))) < n
    xyz = struct.unpack(f"<{3 * n}f", view_bytes(gltf, binary, pos["bufferView"]))
    for c in range(3):
        assert pos["min"][c] == min(xyz[c::3]) and pos["max"][c] == max(xyz[c::3])
    assert pos["max"][2] - pos["min"][2] > 0.1  # a real 3D object, not a flat card
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] + view["byteLength"] <= len(binary)
    nview = acc[prim["attributes"]["NORMAL"]]["bufferView"]
    normals = struct.unpack(f"<{3 * n}f", view_bytes(gltf, binary, nview))
    assert all(abs(x * x + y * y + z * z - 1) < 1e-3 for x, y, z in zip(*[iter(normals)] * 3))


@pytest.mark.parametrize("target", [100, 3000, 60000])
def test_glb_triangle_count_follows_target_polycount(meshy_server, target):
    _, (gltf, _) = _glb(meshy_server, {"should_remesh": True, "target_polycount": target})
    prim = gltf["meshes"][0]["primitives"][0]
    tris = gltf["accessors"][prim["indices"]]["count"] // 3
    assert abs(tris - target) <= 0.1 * target


def test_glb_default_triangles_without_remesh(meshy_server):
    _, (gltf, _) = _glb(meshy_server, {"should_remesh": False})
    prim = gltf["meshes"][0]["primitives"][0]
    assert 4000 <= gltf["accessors"][prim["indices"]]["count"] // 3 <= 6000


@pytest.mark.parametrize(("image", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg")])
def test_glb_embeds_first_input_image(meshy_server, image, mime):
    uri = data_uri(image, mime)
    t, (gltf, binary) = _glb(meshy_server, {"image_urls": [uri, PNG_URI]}, kind=M23)
    mat = gltf["materials"][0]
    tex = gltf["textures"][mat["pbrMetallicRoughness"]["baseColorTexture"]["index"]]
    img = gltf["images"][tex["source"]]
    assert img["mimeType"] == mime and view_bytes(gltf, binary, img["bufferView"]) == image
    base = t["texture_urls"][0]["base_color"]
    assert urlsplit(base).path.endswith(".jpg" if mime == "image/jpeg" else ".png")
    assert fetch(base).body == image


@pytest.mark.parametrize(
    ("model", "pbr", "expect"),
    [
        ("latest", False, set()),
        ("meshy-6", True, {"metallic", "roughness", "normal", "emission"}),
        ("latest", True, {"metallic", "roughness", "normal", "emission"}),
        ("meshy-5", True, {"metallic", "roughness", "normal"}),
    ],
)
def test_pbr_textures(meshy_server, model, pbr, expect):
    t, (gltf, binary) = _glb(meshy_server, {"ai_model": model, "enable_pbr": pbr})
    assert set(t["texture_urls"][0]) == {"base_color"} | expect
    for name in expect:
        png = fetch(t["texture_urls"][0][name]).body
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    mat = gltf["materials"][0]
    mr = mat["pbrMetallicRoughness"]
    assert ("metallicRoughnessTexture" in mr) == pbr
    assert ("normalTexture" in mat) == pbr
    assert ("emissiveTexture" in mat) == ("emission" in expect)
    if "emission" in expect:
        assert mat["emissiveFactor"] == [1.0, 1.0, 1.0]
    for img in gltf["images"][1:]:
        assert img["mimeType"] == "image/png"
        assert view_bytes(gltf, binary, img["bufferView"]).startswith(b"\x89PNG")


def test_obj_mtl_stl_3mf_are_real(meshy_server):
    body = {"target_formats": ["glb", "obj", "stl", "3mf", "fbx", "usdz"], "should_remesh": True}
    t, (gltf, _) = _glb(meshy_server, {**body, "target_polycount": 1000})
    tris = gltf["accessors"][gltf["meshes"][0]["primitives"][0]["indices"]]["count"] // 3
    obj = fetch(t["model_urls"]["obj"]).body.decode()
    assert "mtllib model.mtl" in obj
    assert sum(1 for line in obj.splitlines() if line.startswith("f ")) == tris
    mtl = fetch(t["model_urls"]["mtl"]).body.decode()
    assert "map_Kd texture_0.png" in mtl
    stl = fetch(t["model_urls"]["stl"]).body
    assert struct.unpack("<I", stl[80:84])[0] == tris and len(stl) == 84 + 50 * tris
    with zipfile.ZipFile(io.BytesIO(fetch(t["model_urls"]["3mf"]).body)) as zf:
        model = zf.read("3D/3dmodel.model").decode()
    assert model.count("<triangle ") == tris
    assert b"PLACEHOLDER" in fetch(t["model_urls"]["fbx"]).body
    assert b"PLACEHOLDER" in fetch(t["model_urls"]["usdz"]).body


def test_pre_remeshed_glb(meshy_server):
    t = _done(meshy_server, {"save_pre_remeshed_model": True, "should_remesh": True, "target_polycount": 500})
    gltf, _ = parse_glb(fetch(t["model_urls"]["pre_remeshed_glb"]).body)
    prim = gltf["meshes"][0]["primitives"][0]
    assert gltf["accessors"][prim["indices"]]["count"] // 3 > 500


def test_preview_png_is_real(meshy_server):
    t = _done(meshy_server)
    png = fetch(t["thumbnail_url"]).body
    w, h = struct.unpack(">II", png[16:24])
    assert png.startswith(b"\x89PNG") and (w, h) == (128, 128)


def test_large_glb_builds_fast():
    from scripts.meshy_server.formats import build_glb
    from scripts.meshy_server.mesh import build_mesh

    t0 = time.time()
    glb = build_glb(build_mesh(300_000, 1.3), (PNG, "image/png"))
    assert time.time() - t0 < 3
    gltf, _ = parse_glb(glb)
    assert abs(gltf["accessors"][3]["count"] // 3 - 300_000) < 30_000
    assert gltf["accessors"][3]["componentType"] == 5125


# --------------------------------------------------------------------------- faults & limits


def _conn_error(fn):
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, urllib.error.URLError, OSError)):
        fn()


def test_fault_reset_connections(meshy_server):
    t = _done(meshy_server)
    meshy_server.set_faults(reset_connections=2)
    _conn_error(lambda: call(meshy_server, "GET", "/openapi/v1/balance"))
    _conn_error(lambda: fetch(t["thumbnail_url"]))
    assert call(meshy_server, "GET", "/openapi/v1/balance").status == 200


def test_fault_reset_is_a_real_rst(meshy_server):
    meshy_server.set_faults(reset_connections=1)
    u = urlsplit(meshy_server.url)
    s = socket.create_connection((u.hostname, u.port), timeout=5)
    s.sendall(b"GET /openapi/v1/balance HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ConnectionResetError):
        while s.recv(1024):
            pass
    s.close()


def test_fault_http_5xx(meshy_server):
    meshy_server.set_faults(http_5xx=2)
    for _ in range(2):
        r = call(meshy_server, "GET", "/openapi/v1/balance")
        assert r.status == 503 and r.json == {"message": "Service unavailable"}
    assert call(meshy_server, "GET", "/openapi/v1/balance").status == 200


def test_fault_rate_limit_with_retry_after(meshy_server):
    meshy_server.set_faults(rate_limit=1, retry_after=0)
    r = call(meshy_server, "POST", I23, {"image_url": PNG_URI})
    assert r.status == 429 and r.headers["Retry-After"] == "0"
    assert r.json["code"] == "RateLimitExceeded" and r.json["message"].startswith("RateLimitExceeded")
    create(meshy_server)
    assert meshy_server.stats()["creates"] == 1


def test_fault_queue_full(meshy_server):
    meshy_server.set_faults(queue_full=1)
    r = call(meshy_server, "POST", I23, {"image_url": PNG_URI})
    assert r.status == 429 and r.json["code"] == "NoMoreConcurrentTasks"
    assert r.json["message"].startswith("NoMoreConcurrentTasks:")
    assert call(meshy_server, "GET", "/openapi/v1/balance").status == 200  # only creates are affected
    create(meshy_server)


def test_fault_slow_ms(meshy_server):
    meshy_server.set_faults(slow_ms=150)
    t0 = time.time()
    call(meshy_server, "GET", "/openapi/v1/balance")
    assert time.time() - t0 >= 0.14


def test_fault_truncate_downloads(meshy_server):
    t = _done(meshy_server)
    url = t["model_urls"]["glb"]
    size = len(fetch(url).body)
    meshy_server.set_faults(truncate_downloads=1)
    with pytest.raises(http.client.IncompleteRead) as e:
        urllib.request.urlopen(url, timeout=5).read()
    assert 0 < len(e.value.partial) < size
    assert len(fetch(url).body) == size


def test_fault_stream_drop(make_server):
    srv = make_server(task_seconds=0.3)
    srv.set_faults(stream_drop_after=2, stream_drops=1)
    tid = create(srv)
    events = sse_events(stream_raw(srv, tid)[1])
    assert len(events) == 2 and all(d["status"] in ("PENDING", "IN_PROGRESS") for _, d in events)
    assert sse_events(stream_raw(srv, tid)[1])[-1][1]["status"] == "SUCCEEDED"


def test_fault_download_bps(meshy_server):
    t = _done(meshy_server)
    size = len(fetch(t["thumbnail_url"]).body)
    bps = size * 3  # about a third of a second
    meshy_server.set_faults(download_bps=bps)
    t0 = time.time()
    body = fetch(t["thumbnail_url"]).body
    assert len(body) == size and time.time() - t0 >= 0.25


def test_fault_reset_after_send_charges(make_server):
    srv = make_server(keys={"msy-acct": 100})
    srv.set_faults(reset_after_send=1)
    _conn_error(lambda: call(srv, "POST", I23, {"image_url": PNG_URI}, key="msy-acct"))
    listed = call(srv, "GET", I23, key="msy-acct").json
    assert len(listed) == 1 and srv.stats()["creates"] == 1
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json["balance"] == 70


def test_faults_from_constructor_http_and_clear(make_server):
    srv = make_server(http_5xx=1)
    assert call(srv, "GET", "/openapi/v1/balance").status == 503
    r = call(srv, "POST", "/_control/faults", {"http_5xx": 3, "slow_ms": 1}, key=None)
    assert r.status == 200 and r.json["http_5xx"] == 3
    srv.set_faults()
    assert call(srv, "GET", "/openapi/v1/balance").status == 200
    assert call(srv, "POST", "/_control/faults", {"bogus": 1}, key=None).status == 400
    with pytest.raises(TypeError):
        srv.set_faults(bogus=1)


def test_rps_limit(make_server):
    srv = make_server(rps_limit=3)
    codes = [call(srv, "GET", "/openapi/v1/balance").status for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = call(srv, "GET", "/openapi/v1/balance")
    assert r.headers["Retry-After"] and r.json["code"] == "RateLimitExceeded"


def test_queue_limit(make_server):
    srv = make_server(task_seconds=0.3, queue_limit=1)
    create(srv)
    r = call(srv, "POST", I23, {"image_url": PNG_URI})
    assert r.status == 429 and r.json["code"] == "NoMoreConcurrentTasks"
    time.sleep(0.35)
    create(srv)


# --------------------------------------------------------------------------- stats, control, bench, CLI


def test_stats_counts_routes(meshy_server):
    tid = create(meshy_server)
    get(meshy_server, tid)
    call(meshy_server, "GET", I23)
    stream_raw(meshy_server, tid)
    call(meshy_server, "GET", "/openapi/v1/balance")
    fetch(get(meshy_server, tid)["thumbnail_url"])
    call(meshy_server, "DELETE", f"{I23}/{tid}")
    s = call(meshy_server, "GET", "/_control/stats", key=None).json
    assert s == {**meshy_server.stats(), "faults": s["faults"]}
    routes = s["requests_by_route"]
    assert {k: routes[k] for k in ("create", "retrieve", "list", "stream", "delete", "balance", "asset")} == {
        "create": 1,
        "retrieve": 2,
        "list": 1,
        "stream": 1,
        "delete": 1,
        "balance": 1,
        "asset": 1,
    }
    assert s["requests"] == 8 and s["creates"] == 1 and s["creates_by_key"] == {"****5678": 1}
    assert s["tasks"] == 0 and s["asset_requests_with_auth"] == 0
    assert TEST_KEY not in json.dumps(s)


def test_reset_clears_everything(make_server):
    srv = make_server(keys={"msy-acct": 50})
    create(srv, key="msy-acct")
    srv.set_faults(http_5xx=5)
    assert call(srv, "POST", "/_control/reset", key=None).status == 200
    s = srv.stats()
    assert s["tasks"] == 0 and s["creates"] == 0 and s["faults"]["http_5xx"] == 0
    assert call(srv, "GET", "/openapi/v1/balance", key="msy-acct").json == {"balance": 50}


def test_bench_blob_deterministic_with_range(meshy_server):
    a = fetch("/_bench/blob/300000".join([meshy_server.url, ""]))
    assert a.status == 200 and len(a.body) == 300000 and len(set(a.body[:4096])) > 200
    b = fetch(meshy_server.url + "/_bench/blob/300000", {"Range": "bytes=123456-"})
    assert b.status == 206 and b.body == a.body[123456:]
    assert fetch(meshy_server.url + "/_bench/blob/2k").body == a.body[:2048]


def test_verbose_log_masks_keys(make_server, capsys):
    srv = make_server(verbose=True)
    call(srv, "GET", "/openapi/v1/balance")
    err = capsys.readouterr().err
    assert "****5678" in err and TEST_KEY not in err


def test_quiet_by_default(meshy_server, capsys):
    call(meshy_server, "GET", "/openapi/v1/balance")
    assert capsys.readouterr().err == ""


def test_cli_help_documents_triggers_and_placeholders():
    out = subprocess.run(
        [sys.executable, "-m", "scripts.meshy_server", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in ("[fail:", "moderation_blocked", "PLACEHOLDER", "--reset-connections", "--stream-drop-after"):
        assert word in out


def test_cli_serves(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.meshy_server", "--port", "0", "--key", "msy-cli=40"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Meshy-compatible server on http://127.0.0.1:")
        url = line.split(" on ")[1].strip()
        r = call(None, "GET", url + "/openapi/v1/balance", key="msy-cli")
        assert r.json == {"balance": 40}
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_parallel_clients(make_server):
    from concurrent.futures import ThreadPoolExecutor

    srv = make_server(keys={"msy-acct": 30 * 24})
    with ThreadPoolExecutor(24) as pool:
        ids = list(pool.map(lambda _: create(srv, key="msy-acct"), range(24)))
    assert len(set(ids)) == 24
    assert call(srv, "POST", I23, {"image_url": PNG_URI}, key="msy-acct").status == 402
    with ThreadPoolExecutor(8) as pool:
        glbs = list(pool.map(lambda i: fetch(get(srv, i, key="msy-acct")["model_urls"]["glb"]).body, ids[:8]))
    assert len(set(glbs)) == 1 and glbs[0][:4] == b"glTF"


def test_head_on_assets(meshy_server):
    url = _done(meshy_server)["model_urls"]["glb"]
    size = len(fetch(url).body)
    r = call(None, "HEAD", url, key=None)
    assert r.status == 200 and r.body == b"" and int(r.headers["Content-Length"]) == size
