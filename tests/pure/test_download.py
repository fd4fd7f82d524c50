"""Downloads: streamed, resumed, atomic, never authorised, over real HTTP."""

import threading
import time

import pytest
from test_client_support import RawServer, respond

from meshy_blender.meshy import IMAGE_TO_3D
from meshy_blender.meshy.client import MeshyClient, RetryPolicy
from meshy_blender.meshy.download import download, safe_filename
from meshy_blender.meshy.errors import (
    CancelledError,
    DownloadError,
    LinkExpiredError,
    ValidationError,
)

KEY = "msy_dummy_api_key_for_test_mode_12345678"
PNG_URI = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AA"
           "AAMBAQDJ/pLvAAAAAElFTkSuQmCC")


@pytest.fixture
def asset(meshy_server, tmp_path):
    """(url, reference bytes) of a finished task's GLB; the reference is fetched before faults."""
    c = MeshyClient(KEY, meshy_server.url, retry=RetryPolicy(base_delay=0.01))
    task = c.retrieve(IMAGE_TO_3D, c.create(IMAGE_TO_3D, {"image_url": PNG_URI}))
    url = task.model_urls["glb"]
    ref = download(url, tmp_path / "reference.glb").read_bytes()
    assert len(ref) > 1000
    return url, ref


def asset_requests(srv):
    return srv.stats()["requests_by_route"]["asset"]


def test_download_streams_to_part_then_renames(meshy_server, asset, tmp_path):
    url, ref = asset
    calls = []
    dest = tmp_path / "lib" / "sub" / "model.glb"  # folders are created
    seen_part = []

    def progress(done, total):
        calls.append((done, total))
        seen_part.append(dest.with_name("model.glb.part").exists())

    assert download(url, dest, progress=progress, chunk_size=1024) == dest
    assert dest.read_bytes() == ref
    assert not dest.with_name("model.glb.part").exists()
    assert calls[0] == (0, len(ref)) and calls[-1] == (len(ref), len(ref)) and len(calls) > 2
    assert all(seen_part[1:])  # data went to the .part file, never straight to dest
    assert meshy_server.stats()["asset_requests_with_auth"] == 0


def test_truncated_downloads_resume(meshy_server, asset, tmp_path):
    url, ref = asset
    meshy_server.set_faults(truncate_downloads=2)
    before = asset_requests(meshy_server)
    firsts = []
    dest = download(url, tmp_path / "m.glb", progress=lambda d, t: firsts.append(d), chunk_size=512)
    assert dest.read_bytes() == ref
    assert asset_requests(meshy_server) - before == 3
    assert len(ref) // 2 in firsts  # the second request resumed where the first was cut


def test_server_without_range_support_restarts_from_zero(meshy_server, asset, tmp_path):
    url, ref = asset
    meshy_server.set_faults(no_range=True, truncate_downloads=1)
    assert download(url, tmp_path / "m.glb").read_bytes() == ref


def test_resumes_a_part_left_by_an_earlier_process(asset, tmp_path):
    url, ref = asset
    dest = tmp_path / "m.glb"
    half = len(ref) // 2
    dest.with_name("m.glb.part").write_bytes(ref[:half])
    calls = []
    download(url, dest, progress=lambda d, t: calls.append(d))
    assert calls[0] == half and dest.read_bytes() == ref


def test_complete_or_oversized_part(asset, tmp_path):
    url, ref = asset
    dest = tmp_path / "m.glb"
    part = dest.with_name("m.glb.part")
    part.write_bytes(ref)  # complete already: the server answers 416
    assert download(url, dest).read_bytes() == ref
    part.write_bytes(ref + b"garbage")  # longer than the file: start again
    assert download(url, dest).read_bytes() == ref and not part.exists()


def test_cancel_keeps_part_for_resume(meshy_server, asset, tmp_path):
    url, ref = asset
    meshy_server.set_faults(download_bps=max(4000, len(ref) * 2))  # about half a second
    cancel = threading.Event()
    dest = tmp_path / "m.glb"

    def progress(done, total):
        if done > 0:
            cancel.set()

    start = time.monotonic()
    with pytest.raises(CancelledError):
        download(url, dest, progress=progress, cancel=cancel, chunk_size=1024)
    assert time.monotonic() - start < 2
    part = dest.with_name("m.glb.part")
    kept = part.stat().st_size
    assert 0 < kept < len(ref) and not dest.exists()
    meshy_server.set_faults(download_bps=0)
    firsts = []
    download(url, dest, progress=lambda d, t: firsts.append(d))
    assert firsts[0] == kept  # resumed, not restarted
    assert dest.read_bytes() == ref and not part.exists()


def test_cancel_aborts_a_stalled_read(tmp_path):
    def handler(req, sock, n):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        time.sleep(3)

    srv = RawServer(handler)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    try:
        start = time.monotonic()
        with pytest.raises(CancelledError):
            download(srv.url + "/f", tmp_path / "f.bin", cancel=cancel, read_timeout=30)
        assert time.monotonic() - start < 1.5
    finally:
        srv.close()


def test_expired_or_tampered_links(meshy_server, asset, tmp_path):
    url, _ = asset
    with pytest.raises(LinkExpiredError) as info:
        download(url.replace("Signature=", "Signature=0"), tmp_path / "x.glb")
    assert "expire after 3 days" in str(info.value)
    task_id = url.split("/assets/")[1].split("/")[0]
    meshy_server.set_task(task_id, expires_at=int(time.time() * 1000) - 1000)
    with pytest.raises(LinkExpiredError):
        download(url, tmp_path / "x.glb")
    assert not (tmp_path / "x.glb").exists()


def test_asset_errors_are_retried(meshy_server, asset, tmp_path):
    url, ref = asset
    meshy_server.set_faults(reset_connections=2)
    assert download(url, tmp_path / "m.glb").read_bytes() == ref


def test_only_http_urls(tmp_path):
    for url in ("ftp://x/y.glb", "file:///etc/passwd", "model.glb", ""):
        with pytest.raises(ValidationError):
            download(url, tmp_path / "x")


def test_range_requests_and_no_authorization_header(tmp_path):
    data = bytes(range(256)) * 40

    def handler(req, sock, n):
        rng = req.headers.get("range")
        if n == 0:
            assert rng is None
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data[:4000])
            return False  # cut
        start = int(rng.split("=")[1].rstrip("-"))
        respond(sock, 206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})

    srv = RawServer(handler)
    try:
        assert download(srv.url + "/a.bin?Expires=1&Signature=s", tmp_path / "a.bin").read_bytes() == data
    finally:
        srv.close()
    assert [r.headers.get("range") for r in srv.requests] == [None, "bytes=4000-"]
    assert all("authorization" not in r.headers for r in srv.requests)
    assert srv.requests[0].path == "/a.bin?Expires=1&Signature=s"


def test_content_length_shortfall_fails_after_bounded_resumes(tmp_path):
    def handler(req, sock, n):  # always promises 1000, sends 500, ignores Range
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"y" * 500)

    srv = RawServer(handler)
    try:
        with pytest.raises(DownloadError, match="500 of 1000"):
            download(srv.url + "/f", tmp_path / "f.bin", max_resumes=2)
        assert len(srv.requests) == 3 and not (tmp_path / "f.bin").exists()
    finally:
        srv.close()


def test_more_data_than_announced_is_rejected(tmp_path):
    def handler(req, sock, n):
        start = int(req.headers["range"].split("=")[1].rstrip("-"))
        respond(sock, 206, b"z" * 200, {"Content-Range": f"bytes {start}-{start + 199}/150"})

    srv = RawServer(handler)
    (tmp_path / "f.bin.part").write_bytes(b"z" * 10)
    try:
        with pytest.raises(DownloadError, match="more data"):
            download(srv.url + "/f", tmp_path / "f.bin")
    finally:
        srv.close()
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_unknown_length_and_redirects(tmp_path):
    def handler(req, sock, n):
        if req.path == "/old":
            respond(sock, 302, b"", {"Location": "/new"})
            return True
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world")  # ends at close

    srv = RawServer(handler)
    calls = []
    try:
        path = download(srv.url + "/old", tmp_path / "h.txt", progress=lambda d, t: calls.append((d, t)))
    finally:
        srv.close()
    assert path.read_bytes() == b"hello world" and calls[-1] == (11, None)


def test_server_errors_then_success(tmp_path):
    def handler(req, sock, n):
        if n < 2:
            respond(sock, 503, b"busy")
        else:
            respond(sock, 200, b"ok")

    srv = RawServer(handler)
    try:
        assert download(srv.url + "/f", tmp_path / "f").read_bytes() == b"ok"
    finally:
        srv.close()


def test_safe_filename():
    assert safe_filename("model.glb") == "model.glb"
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename('a<b>c:"d|e?*.png') == "a_b_c_d_e_.png"
    assert safe_filename("") == "file" and safe_filename("...") == "file" and safe_filename("//") == "file"
    assert safe_filename("CON.glb") == "_CON.glb" and safe_filename("nul") == "_nul"
    long = safe_filename("x" * 300 + ".glb")
    assert len(long) == 120 and long.endswith(".glb")
    assert safe_filename("Stühle 椅子.glb") == "Stühle 椅子.glb"
