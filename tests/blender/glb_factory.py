"""Small GLB files for importer tests, written with the standard library only.

Covers the variants a Meshy-compatible server never sends: a GLB with no mesh, a material
lacking some maps, a parent/child hierarchy, truncated or corrupt bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

ALL_MAPS = ("base_color", "metallic_roughness", "normal", "emission")

# Solid colours that tests can recognise in the loaded images.
COLOURS = {
    "base_color": (200, 40, 40),
    "metallic_roughness": (255, 128, 64),
    "normal": (128, 128, 255),
    "emission": (20, 200, 20),
    "metallic": (60, 60, 60),
    "roughness": (180, 180, 180),
}


def png(rgb: tuple[int, int, int], size: int = 4) -> bytes:
    """A solid-colour RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * size
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row * size)) + chunk(b"IEND", b"")


def write_png(path: Path, key: str) -> str:
    """Write the solid map for `key` (a texture_files key) and return its path."""
    path.write_bytes(png(COLOURS[key]))
    return str(path)


def _grid(cells: int) -> tuple[bytes, bytes, bytes, bytes, int, int]:
    """A flat cells x cells grid in glTF's XY plane facing +Z: positions, normals, uvs, indices."""
    n = cells + 1
    pos, nrm, uv = [], [], []
    for j in range(n):
        for i in range(n):
            pos += (i / cells - 0.5, j / cells - 0.5, 0.0)
            nrm += (0.0, 0.0, 1.0)
            uv += (i / cells, 1.0 - j / cells)
    idx = []
    for j in range(cells):
        for i in range(cells):
            a = j * n + i
            idx += (a, a + 1, a + n + 1, a, a + n + 1, a + n)
    count = n * n
    return (
        struct.pack(f"<{len(pos)}f", *pos),
        struct.pack(f"<{len(nrm)}f", *nrm),
        struct.pack(f"<{len(uv)}f", *uv),
        struct.pack(f"<{len(idx)}I", *idx),
        count,
        len(idx),
    )


class _Builder:
    """Collects bufferViews, accessors, images and textures for one BIN chunk."""

    def __init__(self):
        self.blob = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []
        self.images: list[dict] = []
        self.textures: list[dict] = []

    def view(self, data: bytes) -> int:
        self.blob += b"\x00" * ((-len(self.blob)) % 4)
        self.views.append({"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)})
        self.blob += data
        return len(self.views) - 1

    def accessor(self, data: bytes, ctype: int, count: int, kind: str, **extra) -> int:
        self.accessors.append(
            {"bufferView": self.view(data), "componentType": ctype, "count": count, "type": kind, **extra}
        )
        return len(self.accessors) - 1

    def texture(self, key: str) -> dict:
        self.images.append({"bufferView": self.view(png(COLOURS[key])), "mimeType": "image/png"})
        self.textures.append({"sampler": 0, "source": len(self.images) - 1})
        return {"index": len(self.textures) - 1}


def _material(b: _Builder, maps) -> dict:
    mat: dict = {"name": "MeshyMaterial", "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 0.7}}
    pbr = mat["pbrMetallicRoughness"]
    if "base_color" in maps:
        pbr["baseColorTexture"] = b.texture("base_color")
    if "metallic_roughness" in maps:
        pbr.update(metallicRoughnessTexture=b.texture("metallic_roughness"), metallicFactor=1.0, roughnessFactor=1.0)
    if "normal" in maps:
        mat["normalTexture"] = b.texture("normal")
    if "emission" in maps:
        mat.update(emissiveTexture=b.texture("emission"), emissiveFactor=[1.0, 1.0, 1.0])
    return mat


def _pack(gltf: dict, blob: bytes) -> bytes:
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    blob = blob + b"\x00" * ((-len(blob)) % 4)
    chunks = struct.pack("<I4s", len(js), b"JSON") + js
    if blob:
        chunks += struct.pack("<I4s", len(blob), b"BIN\x00") + blob
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def make_glb(maps=ALL_MAPS, cells: int = 4, parent: bool = False, mesh: bool = True) -> bytes:
    """A GLB with one textured grid; `parent` nests it under an empty at (1, 2, 3); `mesh=False` keeps only an empty."""
    b = _Builder()
    gltf: dict = {"asset": {"version": "2.0", "generator": "glb_factory"}, "scene": 0}
    if not mesh:
        gltf.update(scenes=[{"nodes": [0]}], nodes=[{"name": "Empty"}])
        return _pack(gltf, b"")
    pos, nrm, uv, idx, count, n_idx = _grid(cells)
    prim = {
        "attributes": {
            "POSITION": b.accessor(pos, 5126, count, "VEC3", min=[-0.5, -0.5, 0.0], max=[0.5, 0.5, 0.0]),
            "NORMAL": b.accessor(nrm, 5126, count, "VEC3"),
            "TEXCOORD_0": b.accessor(uv, 5126, count, "VEC2"),
        },
        "indices": b.accessor(idx, 5125, n_idx, "SCALAR"),
        "material": 0,
    }
    gltf.update(meshes=[{"name": "Model", "primitives": [prim]}], materials=[_material(b, maps)])
    model = {"name": "Model", "mesh": 0, "translation": [0.0, 0.5, 0.0]}  # Blender (0, 0, 0.5)
    if parent:
        gltf.update(
            scenes=[{"nodes": [0]}], nodes=[{"name": "Root", "translation": [1.0, 3.0, -2.0], "children": [1]}, model]
        )
    else:
        gltf.update(scenes=[{"nodes": [0]}], nodes=[model])
    gltf.update(accessors=b.accessors, bufferViews=b.views, buffers=[{"byteLength": len(b.blob) + (-len(b.blob)) % 4}])
    if b.textures:
        gltf.update(images=b.images, textures=b.textures, samplers=[{"magFilter": 9729, "minFilter": 9987}])
    return _pack(gltf, bytes(b.blob))


def write_glb(path: Path, data: bytes | None = None, **kwargs) -> str:
    """Write `data` (or make_glb(**kwargs)) to path and return it as a string."""
    path.write_bytes(data if data is not None else make_glb(**kwargs))
    return str(path)
