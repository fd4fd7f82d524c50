"""Reading models that follow-up tasks start from: GLB, glTF (embedded buffers), OBJ, STL.

A follow-up (Remesh, Retexture, Rigging) takes a finished task's model.glb or an uploaded model_url;
both come here as bytes and leave as one Mesh (world space, node transforms applied) plus the
textures of its first material. FBX is recognised but cannot be read (the task fails like Meshy's
format_conversion_failed). Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from array import array
from dataclasses import dataclass, field

from .formats import parse_glb
from .mesh import Mesh

MODEL_EXTENSIONS = ("glb", "gltf", "obj", "fbx", "stl")
_COMPONENTS = {5120: "b", 5121: "B", 5122: "h", 5123: "H", 5125: "I", 5126: "f"}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_IDENTITY = (1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0)


class ModelError(ValueError):
    """The bytes are not a model this server can read (the message says why)."""


@dataclass
class SourceModel:
    """One mesh in glTF axes (Y up, front +Z) with the textures of its material (PNG/JPEG bytes, mime)."""

    mesh: Mesh
    has_uvs: bool
    textures: dict = field(default_factory=dict)  # base_color / metallic_roughness / normal / emission


def sniff_model(data: bytes) -> str | None:
    """The model format from the content: glb, gltf, obj, stl, fbx, or None."""
    head = data[:512]
    if head.startswith(b"glTF"):
        return "glb"
    if head.startswith(b"Kaydara FBX Binary") or b"FBXHeaderExtension" in data[:4096]:
        return "fbx"
    if len(data) >= 84 and len(data) == 84 + 50 * struct.unpack("<I", data[80:84])[0]:
        return "stl"
    text = head.lstrip()
    if text.startswith(b"{"):
        return "gltf"
    if text.startswith(b"solid") and b"facet" in data[:4096]:
        return "stl"
    if re.search(rb"(^|\n)\s*v\s+[-+0-9.]", data[:65536]):
        return "obj"
    return None


def read_model(data: bytes, fmt: str) -> SourceModel:
    """Decode a model of a known format into one world-space mesh; ModelError if it cannot be read."""
    try:
        if fmt == "glb":
            gltf, binary = parse_glb(data)
            model = _read_gltf(gltf, [binary])
        elif fmt == "gltf":
            gltf = json.loads(data)
            model = _read_gltf(gltf, [_data_uri_buffer(b) for b in gltf.get("buffers", [])])
        elif fmt == "obj":
            model = _read_obj(data.decode("utf-8", "replace"))
        elif fmt == "stl":
            model = _read_stl(data)
        else:
            raise ModelError(f"cannot convert .{fmt} models")
    except (KeyError, IndexError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise ModelError(f"the .{fmt} file could not be read ({type(exc).__name__})") from None
    except ValueError as exc:
        raise ModelError(f"the .{fmt} file could not be read ({exc})") from None
    if model.mesh.triangle_count == 0:
        raise ModelError(f"the .{fmt} file holds no triangles")
    return model


def glb_summary(data: bytes) -> tuple[int, tuple[list[float], list[float]]]:
    """(faces, (min xyz, max xyz)) of a GLB from its JSON chunk alone (accessor counts and bounds)."""
    gltf, _ = parse_glb(data)
    faces = 0
    lo, hi = [math.inf] * 3, [-math.inf] * 3
    for mesh_index, matrix in _mesh_instances(gltf):
        for prim in gltf["meshes"][mesh_index]["primitives"]:
            if prim.get("mode", 4) != 4:
                continue
            acc = gltf["accessors"][prim["attributes"]["POSITION"]]
            count = gltf["accessors"][prim["indices"]]["count"] if "indices" in prim else acc["count"]
            faces += count // 3
            amin, amax = acc.get("min", [0, 0, 0]), acc.get("max", [0, 0, 0])
            for corner in range(8):
                p = [(amax if corner >> k & 1 else amin)[k] for k in range(3)]
                w = _apply(matrix, p)
                lo = [min(a, b) for a, b in zip(lo, w)]
                hi = [max(a, b) for a, b in zip(hi, w)]
    if faces == 0:
        return 0, ([0.0] * 3, [0.0] * 3)
    return faces, (lo, hi)


# --------------------------------------------------------------------------- glTF


def _data_uri_buffer(buf: dict) -> bytes:
    uri = buf.get("uri", "")
    if not uri.startswith("data:") or "," not in uri:
        raise ModelError("a .gltf upload must embed its buffers as data URIs")
    try:
        return base64.b64decode(uri.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise ModelError("a buffer data URI is not valid base64") from None


def _mat_mul(a, b):
    """4x4 column-major product a * b."""
    return tuple(sum(a[k * 4 + r] * b[c * 4 + k] for k in range(4)) for c in range(4) for r in range(4))


def _node_matrix(node: dict):
    if "matrix" in node:
        return tuple(float(v) for v in node["matrix"])
    tx, ty, tz = node.get("translation", (0.0, 0.0, 0.0))
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    sx, sy, sz = node.get("scale", (1.0, 1.0, 1.0))
    r = (
        1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w),
        2 * (x * y - z * w), 1 - 2 * (x * x + z * z), 2 * (y * z + x * w),
        2 * (x * z + y * w), 2 * (y * z - x * w), 1 - 2 * (x * x + y * y),
    )
    return (r[0] * sx, r[1] * sx, r[2] * sx, 0.0, r[3] * sy, r[4] * sy, r[5] * sy, 0.0,
            r[6] * sz, r[7] * sz, r[8] * sz, 0.0, tx, ty, tz, 1.0)


def _apply(m, p, w: float = 1.0) -> list[float]:
    return [m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r] * w for r in range(3)]


def _mesh_instances(gltf: dict):
    """(mesh index, world matrix) of every mesh node of the default scene (all roots if none)."""
    nodes = gltf.get("nodes", [])
    scenes = gltf.get("scenes", [])
    if scenes:
        roots = scenes[gltf.get("scene", 0)].get("nodes", [])
    else:
        children = {c for n in nodes for c in n.get("children", [])}
        roots = [i for i in range(len(nodes)) if i not in children]
    stack = [(i, _IDENTITY) for i in roots]
    while stack:
        i, parent = stack.pop()
        node = nodes[i]
        world = _mat_mul(parent, _node_matrix(node))
        if "mesh" in node:
            yield node["mesh"], world
        stack.extend((c, world) for c in node.get("children", []))


def _accessor(gltf: dict, buffers: list[bytes], index: int) -> list:
    acc = gltf["accessors"][index]
    width = _WIDTH[acc["type"]]
    code = _COMPONENTS[acc["componentType"]]
    count = acc["count"]
    view = gltf["bufferViews"][acc["bufferView"]]
    data = buffers[view.get("buffer", 0)]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    size = struct.calcsize(code)
    stride = view.get("byteStride") or size * width
    if stride == size * width:
        out = array(code, data[start : start + count * stride])
        return list(out)
    item = struct.Struct("<" + code * width)
    flat: list = []
    for k in range(count):
        flat.extend(item.unpack_from(data, start + k * stride))
    return flat


def _image(gltf: dict, buffers: list[bytes], ref: dict | None):
    if not ref:
        return None
    tex = gltf["textures"][ref["index"]]
    img = gltf["images"][tex["source"]]
    if "bufferView" in img:
        view = gltf["bufferViews"][img["bufferView"]]
        start = view.get("byteOffset", 0)
        data = buffers[view.get("buffer", 0)][start : start + view["byteLength"]]
    else:
        data = _data_uri_buffer({"uri": img.get("uri", "")})
    mime = img.get("mimeType") or ("image/png" if data.startswith(b"\x89PNG") else "image/jpeg")
    return bytes(data), mime


def _read_gltf(gltf: dict, buffers: list[bytes]) -> SourceModel:
    pos: list[float] = []
    nrm: list[float] = []
    uvs: list[float] = []
    idx: list[int] = []
    has_uvs = True
    material = None
    for mesh_index, m in _mesh_instances(gltf):
        for prim in gltf["meshes"][mesh_index]["primitives"]:
            if prim.get("mode", 4) != 4:
                continue
            attrs = prim["attributes"]
            p = _accessor(gltf, buffers, attrs["POSITION"])
            n = len(p) // 3
            base = len(pos) // 3
            for k in range(n):
                pos.extend(_apply(m, p[3 * k : 3 * k + 3]))
            if "NORMAL" in attrs:
                q = _accessor(gltf, buffers, attrs["NORMAL"])
                for k in range(n):
                    x, y, z = _apply(m, q[3 * k : 3 * k + 3], 0.0)
                    ln = math.sqrt(x * x + y * y + z * z) or 1.0
                    nrm.extend((x / ln, y / ln, z / ln))
            else:
                nrm.extend((0.0, 0.0, 0.0) * n)
            if "TEXCOORD_0" in attrs:
                uvs.extend(float(v) for v in _accessor(gltf, buffers, attrs["TEXCOORD_0"]))
            else:
                has_uvs = False
                uvs.extend((0.0, 0.0) * n)
            local = _accessor(gltf, buffers, prim["indices"]) if "indices" in prim else range(n)
            idx.extend(base + int(i) for i in local)
            if material is None and "material" in prim:
                material = gltf["materials"][prim["material"]]
    textures = {}
    if material is not None:
        mr = material.get("pbrMetallicRoughness", {})
        refs = {"base_color": mr.get("baseColorTexture"), "metallic_roughness": mr.get("metallicRoughnessTexture"),
                "normal": material.get("normalTexture"), "emission": material.get("emissiveTexture")}
        textures = {k: img for k, ref in refs.items() if (img := _image(gltf, buffers, ref)) is not None}
    mesh = Mesh(array("f", pos), array("f", nrm), array("f", uvs), array("I", idx))
    fill_normals(mesh)
    if not has_uvs:
        planar_uvs(mesh)
    return SourceModel(mesh, has_uvs, textures)


# --------------------------------------------------------------------------- OBJ, STL


def _read_obj(text: str) -> SourceModel:
    v: list[tuple[float, ...]] = []
    vt: list[tuple[float, ...]] = []
    vn: list[tuple[float, ...]] = []
    corners: dict[tuple, int] = {}
    pos: list[float] = []
    nrm: list[float] = []
    uvs: list[float] = []
    idx: list[int] = []
    used_uv = False

    def ref(part: str, table: list, n: int) -> int | None:
        if not part:
            return None
        k = int(part)
        k = k - 1 if k > 0 else len(table) + k
        if not 0 <= k < n:
            raise ValueError("a face refers to a missing vertex")
        return k

    for line in text.splitlines():
        bits = line.split()
        if not bits:
            continue
        tag = bits[0]
        if tag == "v":
            v.append(tuple(float(x) for x in bits[1:4]))
        elif tag == "vt":
            vt.append((float(bits[1]), float(bits[2]) if len(bits) > 2 else 0.0))
        elif tag == "vn":
            vn.append(tuple(float(x) for x in bits[1:4]))
        elif tag == "f":
            face = []
            for corner in bits[1:]:
                parts = [*corner.split("/"), "", ""][:3]
                key = (ref(parts[0], v, len(v)), ref(parts[1], vt, len(vt)), ref(parts[2], vn, len(vn)))
                if key not in corners:
                    corners[key] = len(pos) // 3
                    pos.extend(v[key[0]])
                    nrm.extend(vn[key[2]] if key[2] is not None else (0.0, 0.0, 0.0))
                    if key[1] is not None:
                        used_uv = True
                        uvs.extend((vt[key[1]][0], 1.0 - vt[key[1]][1]))
                    else:
                        uvs.extend((0.0, 0.0))
                face.append(corners[key])
            for k in range(1, len(face) - 1):
                idx.extend((face[0], face[k], face[k + 1]))
    mesh = Mesh(array("f", pos), array("f", nrm), array("f", uvs), array("I", idx))
    fill_normals(mesh)
    if not used_uv:
        planar_uvs(mesh)
    return SourceModel(mesh, used_uv)


def _read_stl(data: bytes) -> SourceModel:
    pos: list[float] = []
    if len(data) >= 84 and len(data) == 84 + 50 * struct.unpack("<I", data[80:84])[0]:
        for k in range(struct.unpack("<I", data[80:84])[0]):
            pos.extend(struct.unpack_from("<9f", data, 84 + 50 * k + 12))
    else:
        for m in re.finditer(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)", data):
            pos.extend(float(x) for x in m.groups())
    n = len(pos) // 3
    mesh = Mesh(array("f", pos), array("f", [0.0] * (3 * n)), array("f", [0.0] * (2 * n)),
                array("I", range(n - n % 3)))
    fill_normals(mesh)
    planar_uvs(mesh)
    return SourceModel(mesh, False)


# --------------------------------------------------------------------------- shared geometry helpers


def bounds(mesh: Mesh) -> tuple[list[float], list[float]]:
    p = mesh.positions
    return [min(p[c::3]) for c in range(3)], [max(p[c::3]) for c in range(3)]


def face_normals_into(mesh: Mesh) -> list[float]:
    """Area-weighted vertex normals from the faces."""
    p, t = mesh.positions, mesh.indices
    acc = [0.0] * len(p)
    for k in range(0, len(t), 3):
        a, b, c = 3 * t[k], 3 * t[k + 1], 3 * t[k + 2]
        ux, uy, uz = p[b] - p[a], p[b + 1] - p[a + 1], p[b + 2] - p[a + 2]
        vx, vy, vz = p[c] - p[a], p[c + 1] - p[a + 1], p[c + 2] - p[a + 2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        for q in (a, b, c):
            acc[q] += nx
            acc[q + 1] += ny
            acc[q + 2] += nz
    out: list[float] = []
    for q in range(0, len(acc), 3):
        x, y, z = acc[q], acc[q + 1], acc[q + 2]
        ln = math.sqrt(x * x + y * y + z * z)
        out += (x / ln, y / ln, z / ln) if ln > 1e-20 else (0.0, 0.0, 1.0)
    return out


def fill_normals(mesh: Mesh) -> None:
    """Compute normals where the file had none (all zero)."""
    if not any(mesh.normals):
        mesh.normals = array("f", face_normals_into(mesh))


def planar_uvs(mesh: Mesh) -> None:
    """A front (XY) projection into [0, 1]: what a model without UVs gets."""
    lo, hi = bounds(mesh)
    sx, sy = (hi[0] - lo[0]) or 1.0, (hi[1] - lo[1]) or 1.0
    p = mesh.positions
    uv = array("f")
    for k in range(0, len(p), 3):
        uv.extend(((p[k] - lo[0]) / sx, 1.0 - (p[k + 1] - lo[1]) / sy))
    mesh.uvs = uv
