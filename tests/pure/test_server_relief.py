"""A photo with an alpha channel becomes its silhouette inflated into a closed relief (over real HTTP)."""

from __future__ import annotations

import base64
import json
import math
import struct
import urllib.request
import zlib
from collections import Counter

import pytest

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
I23 = "/openapi/v1/image-to-3d"
W, H = 120, 160  # the photo; a disc of radius R at (CX, CY), in pixels
CX, CY, R = 70, 90, 45


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def png(pixels: list[bytes], channels: int, color_type: int, depth: int = 8, extra: bytes = b"") -> bytes:
    """PNG written here (independent of the server), each row with the next of the five filters."""
    bpp = channels * depth // 8
    out, prev = [], bytes(len(pixels[0]))
    for y, row in enumerate(pixels):
        kind = y % 5
        f = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            f.append((x - pred) & 0xFF)
        out.append(bytes([kind]) + bytes(f))
        prev = row

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", len(pixels[0]) // bpp, len(pixels), depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(b"".join(out))) + chunk(
        b"IEND", b""
    )


def _inside(x: int, y: int) -> bool:
    return (x + 0.5 - CX) ** 2 + (y + 0.5 - CY) ** 2 <= R * R


def disc_variant(kind: str) -> bytes:
    """The disc as grey + alpha, 16-bit RGBA, or a palette with a tRNS chunk."""
    if kind == "gray_alpha":
        return png([bytes(b for x in range(W) for b in (150, 255 * _inside(x, y))) for y in range(H)], 2, 4)
    if kind == "rgba16":
        rows = [b"".join(struct.pack(">4H", 300 * x, 200 * y, 9000, 65535 * _inside(x, y)) for x in range(W))
                for y in range(H)]
        return png(rows, 4, 6, depth=16)
    plte = bytes((200, 40, 40, 30, 30, 200))
    trns = b"\x00\xff"  # index 0 see-through, index 1 solid

    def chunk(k, p):
        return struct.pack(">I", len(p)) + k + p + struct.pack(">I", zlib.crc32(k + p))

    rows = [bytes(int(_inside(x, y)) for x in range(W)) for y in range(H)]
    return png(rows, 1, 3, extra=chunk(b"PLTE", plte) + chunk(b"tRNS", trns))


def disc_rgba(opaque_everywhere: bool = False) -> bytes:
    rows = []
    for y in range(H):
        row = bytearray()
        for x in range(W):
            inside = _inside(x, y)
            row += bytes((40 + x, 200 - y, 90, 255 if inside or opaque_everywhere else 0))
        rows.append(bytes(row))
    return png(rows, 4, 6)


def rgb_of() -> bytes:
    rows = [bytes(b for x in range(W) for b in (40 + x, 200 - y, 90)) for y in range(H)]
    return png(rows, 3, 2)


def _req(srv, method, path, body=None):
    req = urllib.request.Request(
        path if path.startswith("http") else srv.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def model(srv, image: bytes, **opts) -> tuple[dict, dict]:
    """(task, mesh) where mesh has positions, normals, uvs (lists of tuples) and triangles."""
    body = {"image_url": "data:image/png;base64," + base64.b64encode(image).decode(), **opts}
    tid = json.loads(_req(srv, "POST", I23, body))["result"]
    task = json.loads(_req(srv, "GET", f"{I23}/{tid}"))
    data = _req(srv, "GET", task["model_urls"]["glb"])
    jlen = struct.unpack("<I", data[12:16])[0]
    gltf = json.loads(data[20 : 20 + jlen])
    binary = data[28 + jlen :]
    prim = gltf["meshes"][0]["primitives"][0]

    def read(acc_index, width):
        acc = gltf["accessors"][acc_index]
        view = gltf["bufferViews"][acc["bufferView"]]
        fmt = {5126: "f", 5123: "H", 5125: "I"}[acc["componentType"]]
        n = acc["count"] * (1 if acc["type"] == "SCALAR" else width)
        flat = struct.unpack(f"<{n}{fmt}", binary[view["byteOffset"] :][: view["byteLength"]])
        return [flat[i : i + width] for i in range(0, len(flat), width)]

    a = prim["attributes"]
    mesh = {
        "positions": read(a["POSITION"], 3),
        "normals": read(a["NORMAL"], 3),
        "uvs": read(a["TEXCOORD_0"], 2),
        "triangles": read(prim["indices"], 3),
    }
    return task, mesh


def _xy_area(p, q, r) -> float:
    return ((q[0] - p[0]) * (r[1] - p[1]) - (r[0] - p[0]) * (q[1] - p[1])) / 2


@pytest.fixture
def relief(meshy_server):
    return model(meshy_server, disc_rgba(), should_remesh=True, target_polycount=8000)[1]


def test_relief_is_a_closed_consistently_oriented_manifold(relief):
    directed = Counter()
    for a, b, c in relief["triangles"]:
        assert len({a, b, c}) == 3
        directed.update(((a, b), (b, c), (c, a)))
    undirected = Counter(frozenset(e) for e in directed)
    assert set(undirected.values()) == {2}  # every edge shared by exactly two triangles
    assert all(n == 1 and directed[(b, a)] == 1 for (a, b), n in directed.items())  # no flipped triangle
    used = {v for t in relief["triangles"] for v in t}
    assert used == set(range(len(relief["positions"])))


def test_relief_uvs_map_the_photo_onto_the_silhouette(relief):
    aspect = W / H
    for (x, y, _), (u, v) in zip(relief["positions"], relief["uvs"]):
        assert 0.0 <= u <= 1.0 and 0.0 <= v <= 1.0
        assert abs(x - (u - 0.5) * aspect) < 1e-4 and abs(y - (0.5 - v)) < 1e-4  # front projection (glTF v down)


def test_relief_silhouette_matches_the_alpha_mask(relief):
    """Projected area and bounds of the front are the disc's, not the photo's rectangle."""
    pos = relief["positions"]
    area = sum(max(0.0, _xy_area(pos[a], pos[b], pos[c])) for a, b, c in relief["triangles"])
    xs, ys = [p[0] for p in pos], [p[1] for p in pos]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    r = R / H  # model units: the photo is 1 tall
    assert width == pytest.approx(2 * r, rel=0.06) and height == pytest.approx(2 * r, rel=0.06)
    assert area == pytest.approx(math.pi * r * r, rel=0.05)
    assert area / (width * height) == pytest.approx(math.pi / 4, abs=0.03)  # a card would give 1.0
    centre = ((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2)
    assert centre[0] == pytest.approx((CX / W - 0.5) * W / H, abs=0.02)
    assert centre[1] == pytest.approx(0.5 - CY / H, abs=0.02)


def test_relief_is_round_with_outward_normals(relief):
    pos, nrm = relief["positions"], relief["normals"]
    zs = [p[2] for p in pos]
    assert max(zs) > 0.5 * R / H and min(zs) < -0.25 * R / H  # front bulges more than the back, both do
    centre = [sum(p[i] for p in pos) / len(pos) for i in range(3)]
    outward = sum(sum((p[i] - centre[i]) * n[i] for i in range(3)) > 0 for p, n in zip(pos, nrm))
    assert outward >= 0.99 * len(pos)  # a convex silhouette: normals point away from the middle
    for n in nrm:
        assert abs(n[0] ** 2 + n[1] ** 2 + n[2] ** 2 - 1) < 1e-3
    for a, b, c in relief["triangles"]:
        u = [pos[b][i] - pos[a][i] for i in range(3)]
        v = [pos[c][i] - pos[a][i] for i in range(3)]
        face = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
        for k in (a, b, c):  # smooth shading that never faces away from a triangle it belongs to
            assert sum(face[i] * nrm[k][i] for i in range(3)) >= 0


@pytest.mark.parametrize("target", [100, 3000, 60000])
def test_relief_follows_target_polycount(meshy_server, target):
    _, mesh = model(meshy_server, disc_rgba(), should_remesh=True, target_polycount=target)
    assert abs(len(mesh["triangles"]) - target) <= 0.1 * target


def test_relief_default_triangles_and_other_formats(meshy_server):
    task, mesh = model(meshy_server, disc_rgba(), should_remesh=False, target_formats=["glb", "stl", "obj"])
    tris = len(mesh["triangles"])
    assert 4000 <= tris <= 6000
    stl = _req(meshy_server, "GET", task["model_urls"]["stl"])
    assert struct.unpack("<I", stl[80:84])[0] == tris
    obj = _req(meshy_server, "GET", task["model_urls"]["obj"]).decode()
    assert sum(line.startswith("f ") for line in obj.splitlines()) == tris


def test_photos_without_a_silhouette_keep_the_pillow(meshy_server):
    """No alpha channel, or alpha opaque everywhere: the same model as before (the rounded card)."""
    _, rgb = model(meshy_server, rgb_of(), should_remesh=True, target_polycount=3000)
    _, opaque = model(meshy_server, disc_rgba(opaque_everywhere=True), should_remesh=True, target_polycount=3000)
    assert rgb["positions"] == opaque["positions"] and rgb["triangles"] == opaque["triangles"]
    xs, ys = [p[0] for p in rgb["positions"]], [p[1] for p in rgb["positions"]]
    assert max(xs) - min(xs) == pytest.approx(W / H, rel=1e-3) and max(ys) - min(ys) == pytest.approx(1, rel=1e-3)


@pytest.mark.parametrize("kind", ["gray_alpha", "rgba16", "palette_trns"])
def test_other_png_kinds_with_alpha_give_the_relief(meshy_server, kind):
    _, mesh = model(meshy_server, disc_variant(kind), should_remesh=True, target_polycount=3000)
    pos = mesh["positions"]
    area = sum(max(0.0, _xy_area(pos[a], pos[b], pos[c])) for a, b, c in mesh["triangles"])
    assert area == pytest.approx(math.pi * (R / H) ** 2, rel=0.08)


def test_origin_at_bottom_puts_the_relief_on_the_ground(meshy_server):
    _, mesh = model(meshy_server, disc_rgba(), auto_size=True, origin_at="bottom")
    assert min(p[1] for p in mesh["positions"]) == pytest.approx(0.0, abs=1e-6)
    _, centred = model(meshy_server, disc_rgba(), auto_size=True, origin_at="center")
    assert min(p[1] for p in centred["positions"]) < -0.1
