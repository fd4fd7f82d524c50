"""Asset and file downloads: signed links, Range requests, download faults, the benchmark blob."""

from __future__ import annotations

import hashlib
import random
import re
import time
from urllib.parse import unquote

from .errors import ApiError

MIME_BY_EXT = {
    "glb": "model/gltf-binary",
    "obj": "text/plain",
    "mtl": "text/plain",
    "stl": "model/stl",
    "fbx": "application/octet-stream",
    "usdz": "model/vnd.usdz+zip",
    "3mf": "model/3mf",
    "png": "image/png",
    "jpg": "image/jpeg",
}
BLOB_BLOCK = random.Random(1234).randbytes(1 << 20)


class DownloadRoutes:
    """Mixed into the request handler (it provides send_*, abort, count, slow, srv)."""

    def asset(self, path: str, query: dict):
        srv = self.srv
        srv.state.count_request("asset", with_auth=bool(self.headers.get("Authorization")))
        self.slow()
        if srv.faults.take("reset_connections"):
            self.abort()
        m = re.fullmatch(r"/assets/([^/]+)/([^/]+)", path)
        if not m or self.command not in ("GET", "HEAD"):
            raise ApiError(404, "Not found")
        task_id, filename = m.group(1), unquote(m.group(2))
        task = srv.asset_task(task_id, filename, query.get("Expires", ""), query.get("Signature", ""))
        data = srv.asset_bytes(task, filename)
        ext = filename.rsplit(".", 1)[-1]
        etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
        self.send_bytes(data, MIME_BY_EXT.get(ext, "application/octet-stream"), etag, faults=True, name=filename)

    def serve_file(self, name: str):
        self.count("files")
        f = self.srv.files.get(name)
        if f is None:
            raise ApiError(404, "Not found")
        self.send_bytes(f[0], f[1], None, faults=False)

    def send_bytes(self, data: bytes, ctype: str, etag: str | None, faults: bool, name: str = ""):
        """Body with Range support; faults: no_range, truncate_downloads, download_bps."""
        srv = self.srv
        total = len(data)
        ranged = not (faults and srv.faults.get("no_range"))
        rng = parse_range(self.headers.get("Range"), total) if ranged else None
        if rng and self.headers.get("If-Range") and etag and self.headers.get("If-Range") != etag:
            rng = None
        start, end = rng or (0, total)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(end - start))
        if ranged:
            self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
        if etag:
            self.send_header("ETag", etag)
        if name:
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.end_headers()
        if self.command == "HEAD":
            return
        truncate = faults and srv.faults.take("truncate_downloads")
        stop = start + (end - start) // 2 if truncate else end
        bps = srv.faults.get("download_bps", 0) if faults else 0
        self.write_paced(lambda a, b: data[a:b], start, stop, bps)
        if truncate:
            self.abort(graceful=True)

    def write_paced(self, get, start: int, stop: int, bps: int):
        """Write [start, stop) in chunks, optionally throttled to bps bytes/second."""
        step = max(1024, min(256 * 1024, bps // 20)) if bps else 256 * 1024
        t0 = time.monotonic()
        pos = start
        while pos < stop:
            if self.srv.stopping.is_set():
                return self.abort()
            nxt = min(stop, pos + step)
            self.wfile.write(get(pos, nxt))
            pos = nxt
            if bps:
                ahead = (pos - start) / bps - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def bench_blob(self, size_text: str):
        self.count("bench")
        total = parse_size(size_text)
        rng = parse_range(self.headers.get("Range"), total)
        start, end = rng or (0, total)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{total}")
        self.end_headers()
        if self.command != "HEAD":
            self.write_paced(blob_bytes, start, end, 0)


def blob_bytes(start: int, end: int) -> bytes:
    """Deterministic bytes [start, end) of the benchmark blob (a repeating 1 MiB random block)."""
    n = len(BLOB_BLOCK)
    out = bytearray()
    pos = start
    while pos < end:
        off = pos % n
        take = min(n - off, end - pos)
        out += BLOB_BLOCK[off : off + take]
        pos += take
    return bytes(out)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    if not m:
        raise ApiError(400, "Invalid size")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """(start, end_exclusive) for 'bytes=N-' / 'bytes=N-M' / 'bytes=-K'; None to serve it all."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        k = int(m.group(2))
        return max(0, total - k), total
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else total
    if start >= total:
        raise ApiError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{total}"})
    return start, min(end, total)
