"""Helpers for the follow-up tests: HTTP calls, PNG/GLB/OBJ makers and a small GLB reader.

Written here, not imported from the server package, so the tests check the server's files with an
independent reader. Not a test module itself.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import urllib.error
import urllib.request
import zlib
from array import array

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
API = "/openapi/v1"


def png(w: int = 40, h: int = 80, rgb=(200, 120, 60)) -> bytes:
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_uri(data: bytes | None = None) -> str:
    return "data:image/png;base64," + base64.b64encode(data or png()).decode()


def model_uri(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def call(srv, method: str, path: str, body=None, key: str = TEST_KEY):
    """(status, JSON or None) of one API request; HTTP errors are returned, not raised."""
    url = path if path.startswith("http") else srv.url + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def create(srv, kind: str, body: dict, key: str = TEST_KEY) -> str:
    status, answer = call(srv, "POST", f"{API}/{kind}", body, key)
    assert status == 202, (status, answer)
    return answer["result"]


def finished(srv, kind: str, task_id: str, key: str = TEST_KEY, timeout: float = 30) -> dict:
    """GET until the task is terminal (tasks finish by the server's clock)."""
    deadline = time.monotonic() + timeout
    while True:
        status, task = call(srv, "GET", f"{API}/{kind}/{task_id}", key=key)
        assert status == 200, task
        if task["status"] in ("SUCCEEDED", "FAILED", "CANCELED") or time.monotonic() > deadline:
            return task
        time.sleep(0.05)


def photo_task(srv, w: int = 40, h: int = 80, key: str = TEST_KEY, **opts) -> str:
    """A finished Image to 3D task (portrait photo: a standing figure's proportions)."""
    task_id = create(srv, "image-to-3d", {"image_url": png_uri(png(w, h)), **opts}, key)
    assert finished(srv, "image-to-3d", task_id, key)["status"] == "SUCCEEDED"
    return task_id


# --------------------------------------------------------------------------- GLB


class Glb:
    """A parsed GLB: its JSON and accessors read as flat lists."""

    TYPES = {5120: "b", 5121: "B", 5122: "h", 5123: "H", 5125: "I", 5126: "f"}
    WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}

    def __init__(self, data: bytes):
        magic, version, total = struct.unpack_from("<4sII", data)
        assert magic == b"glTF" and version == 2 and total == len(data)
        jlen, jtype = struct.unpack_from("<I4s", data, 12)
        assert jtype == b"JSON"
        self.json = json.loads(data[20 : 20 + jlen])
        blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
        assert btype == b"BIN\x00"
        self.bin = data[28 + jlen : 28 + jlen + blen]

    def accessor(self, index: int) -> list:
        acc = self.json["accessors"][index]
        view = self.json["bufferViews"][acc["bufferView"]]
        code = self.TYPES[acc["componentType"]]
        n = acc["count"] * self.WIDTH[acc["type"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        return list(array(code, self.bin[start : start + n * array(code).itemsize]))

    def image(self, index: int) -> bytes:
        view = self.json["bufferViews"][self.json["images"][index]["bufferView"]]
        return self.bin[view.get("byteOffset", 0) : view.get("byteOffset", 0) + view["byteLength"]]

    @property
    def primitive(self) -> dict:
        return self.json["meshes"][0]["primitives"][0]

    @property
    def triangles(self) -> int:
        return sum(self.json["accessors"][p["indices"]]["count"] // 3
                   for m in self.json.get("meshes", []) for p in m["primitives"])

    def positions(self) -> list[tuple[float, float, float]]:
        flat = self.accessor(self.primitive["attributes"]["POSITION"])
        return list(zip(flat[0::3], flat[1::3], flat[2::3]))

    def base_color_image(self) -> bytes:
        material = self.json["materials"][self.primitive["material"]]
        tex = material["pbrMetallicRoughness"]["baseColorTexture"]["index"]
        return self.image(self.json["textures"][tex]["source"])


def build_glb(positions: list[float], indices: list[int], uvs: list[float] | None = None) -> bytes:
    """A minimal GLB (one mesh, uint32 indices): an upload for model_url."""
    pos = array("f", positions).tobytes()
    idx = array("I", indices).tobytes()
    uv = array("f", uvs).tobytes() if uvs is not None else b""
    blob = pos + idx + uv
    views = [{"buffer": 0, "byteOffset": 0, "byteLength": len(pos)},
             {"buffer": 0, "byteOffset": len(pos), "byteLength": len(idx)}]
    n = len(positions) // 3
    lo = [min(positions[c::3]) for c in range(3)]
    hi = [max(positions[c::3]) for c in range(3)]
    accessors = [{"bufferView": 0, "componentType": 5126, "count": n, "type": "VEC3", "min": lo, "max": hi},
                 {"bufferView": 1, "componentType": 5125, "count": len(indices), "type": "SCALAR"}]
    attrs = {"POSITION": 0}
    if uvs is not None:
        views.append({"buffer": 0, "byteOffset": len(pos) + len(idx), "byteLength": len(uv)})
        accessors.append({"bufferView": 2, "componentType": 5126, "count": n, "type": "VEC2"})
        attrs["TEXCOORD_0"] = 2
    gltf = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": attrs, "indices": 1}]}], "accessors": accessors,
            "bufferViews": views, "buffers": [{"byteLength": len(blob)}]}
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    blob += b"\x00" * (-len(blob) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 28 + len(js) + len(blob)) + struct.pack("<I4s", len(js), b"JSON") + js
            + struct.pack("<I4s", len(blob), b"BIN\x00") + blob)


def box_glb(w: float = 0.5, h: float = 1.8, d: float = 0.3, uvs: bool = True, repeat: int = 1) -> bytes:
    """A closed box (12 triangles, its index list repeated `repeat` times: a cheap huge face count)."""
    xs, ys, zs = (-w / 2, w / 2), (0.0, h), (-d / 2, d / 2)
    pos = [c for z in zs for y in ys for x in xs for c in (x, y, z)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    idx = [i for a, b, c, e in quads for i in (a, b, c, a, c, e)] * repeat
    uv = [v for k in range(8) for v in ((k & 1) * 1.0, (k >> 1 & 1) * 1.0)] if uvs else None
    return build_glb(pos, idx, uv)


def mean_rgb(png_data: bytes) -> tuple[float, float, float]:
    """Mean colour of an 8-bit RGB PNG with filter 0 rows (what the server writes)."""
    pos, idat, (w, h, ct) = 8, b"", (0, 0, 0)
    while pos < len(png_data):
        n, kind = struct.unpack_from(">I4s", png_data, pos)
        payload = png_data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, _depth, ct = struct.unpack_from(">IIBB", payload)
        elif kind == b"IDAT":
            idat += payload
        pos += 12 + n
    assert ct == 2
    raw = zlib.decompress(idat)
    stride = 3 * w + 1
    rows = [raw[y * stride + 1 : (y + 1) * stride] for y in range(0, h, max(1, h // 32))]
    assert all(raw[y * stride] == 0 for y in range(0, h, max(1, h // 32)))
    sums = [sum(sum(r[c::3]) for r in rows) / (len(rows) * w) for c in range(3)]
    return sums[0], sums[1], sums[2]
