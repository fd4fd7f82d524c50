"""The local server's model size: small by default, Meshy's own on request (1M triangles, 2048^2 maps)."""

from __future__ import annotations

import struct
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zlib

import pytest
from test_server import JPEG, ROOT, Resp, create, data_uri, get, make_png, parse_glb, view_bytes

from scripts.meshy_server import cli, outputs

PBR = {"enable_pbr": True, "ai_model": "meshy-6"}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def triangles(gltf) -> int:
    return gltf["accessors"][gltf["meshes"][0]["primitives"][0]["indices"]]["count"] // 3


def fetch(url: str, headers: dict | None = None) -> Resp:
    """A download with a long timeout: a Meshy-size file is built before its first byte (seconds under load)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=180) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def model(srv, body) -> tuple[dict, dict, bytes]:
    task = get(srv, create(srv, body))
    glb = fetch(task["model_urls"]["glb"])
    assert glb.status == 200
    gltf, binary = parse_glb(glb.body)
    return task, gltf, binary


def test_meshy_size_models_weigh_what_meshys_do(make_server):
    """meshy-6 without remeshing: about 1M triangles and base colour, metallic-roughness and normal
    maps of 2048 x 2048 whose bytes do not compress to nothing; 30-50 MB like Meshy's own."""
    srv = make_server(triangles=1_000_000, texture_size=2048)
    photos = [make_png(40, 30, (200, 30, 40)), make_png(40, 30, (30, 200, 40))]
    results: dict[int, tuple] = {}

    def one(i):  # two tasks downloaded at once, as a batch does
        results[i] = model(srv, {"image_url": data_uri(photos[i]), **PBR})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == [0, 1]
    bases = []
    for task, gltf, binary in results.values():
        assert abs(triangles(gltf) - 1_000_000) <= 10_000
        assert 30e6 <= len(binary) <= 50e6
        material = gltf["materials"][0]
        slots = {"base": material["pbrMetallicRoughness"]["baseColorTexture"],
                 "mr": material["pbrMetallicRoughness"]["metallicRoughnessTexture"],
                 "normal": material["normalTexture"]}
        for name, slot in slots.items():
            image = gltf["images"][gltf["textures"][slot["index"]]["source"]]
            data = view_bytes(gltf, binary, image["bufferView"])
            assert png_size(data) == (2048, 2048), name
            assert len(data) >= 2e6, f"{name}: {len(data)} bytes, compressed to nearly nothing"
            if name == "base":
                bases.append(data)
        served = task["texture_urls"][0]
        assert set(served) == {"base_color", "metallic", "roughness", "normal", "emission"}
        for key, url in served.items():
            assert png_size(fetch(url).body) == (2048, 2048), key
    assert bases[0] != bases[1]  # each photo its own base colour (its tint)


def test_remeshed_and_lowpoly_models_keep_their_own_size(make_server):
    srv = make_server(triangles=1_000_000, texture_size=64)
    _, gltf, _ = model(srv, {"image_url": data_uri(make_png()), "should_remesh": True, "target_polycount": 3000})
    assert abs(triangles(gltf) - 3000) <= 300
    _, gltf, _ = model(srv, {"image_url": data_uri(make_png()), "model_type": "lowpoly"})
    assert triangles(gltf) <= 1100


def test_the_default_stays_small(meshy_server):
    task, gltf, binary = model(meshy_server, {"image_url": data_uri(make_png()), **PBR})
    assert 4000 <= triangles(gltf) <= 6000 and len(binary) < 1e6
    assert png_size(fetch(task["texture_urls"][0]["normal"]).body) == (64, 64)
    assert fetch(task["texture_urls"][0]["base_color"]).body == make_png()  # the photo as sent


def test_a_jpeg_photo_gets_a_png_base_colour_at_a_texture_size(make_server):
    srv = make_server(texture_size=128)
    task, gltf, _ = model(srv, {"image_url": data_uri(JPEG, "image/jpeg")})
    url = task["texture_urls"][0]["base_color"]
    assert "/texture_0.png?" in url and png_size(fetch(url).body) == (128, 128)
    assert gltf["images"][0]["mimeType"] == "image/png"


def test_a_file_pushed_out_of_the_cache_is_built_again_to_the_same_bytes(make_server):
    """A download resumed (Range) after other tasks' files pushed this one out gets the same bytes."""
    srv = make_server(triangles=20_000, texture_size=256)
    srv.large_files = outputs.LargeFiles(limit=1, threshold=1000)  # keep only the newest file
    task = get(srv, create(srv, PBR))
    first = fetch(task["model_urls"]["glb"]).body
    fetch(task["texture_urls"][0]["normal"])  # pushes the GLB out
    assert len(srv.large_files) == 1
    tail = fetch(task["model_urls"]["glb"], headers={"Range": f"bytes={len(first) // 2}-"})
    assert tail.status == 206 and tail.body == first[len(first) // 2 :]
    assert srv.stats()["built_bytes"]["model.glb"] == len(first)  # what a client downloads, counted once


def test_pbr_maps_are_not_trivially_compressible():
    raw_size = 512 * 512 * 3
    data = outputs.maps.normal_png(512)
    assert png_size(data) == (512, 512) and len(data) > raw_size / 5
    assert len(zlib.compress(data, 9)) > 0.95 * len(data)


def test_command_line_sizes():
    parser = cli.build_parser()
    assert cli.output_size(parser.parse_args([])) == outputs.TEST_SIZE
    assert cli.output_size(parser.parse_args(["--meshy-size"])) == outputs.MESHY_SIZE == outputs.OutputSize(
        1_000_000, 2048)
    assert cli.output_size(parser.parse_args(["--meshy-size", "--texture-size", "512"])) == outputs.OutputSize(
        1_000_000, 512)
    assert cli.output_size(parser.parse_args(["--triangles", "20000"])) == outputs.OutputSize(20_000, 0)
    for bad, message in ((["--triangles", "5"], "--triangles must be 100 to"),
                         (["--texture-size", "4"], "--texture-size must be 0")):
        result = subprocess.run([sys.executable, "-m", "scripts.meshy_server", "--port", "0", *bad], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_constructor_refuses_sizes_out_of_range():
    from scripts.meshy_server import MeshyServer

    with pytest.raises(ValueError, match="triangles must be"):
        MeshyServer(triangles=10)
    with pytest.raises(ValueError, match="texture_size must be"):
        MeshyServer(texture_size=100_000)

