"""Model files from a mesh: GLB (textures embedded), OBJ + MTL, binary STL, 3MF, placeholders."""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from array import array

from .mesh import Mesh, le_bytes

# glTF constants
_FLOAT = 5126
_UINT16 = 5123
_UINT32 = 5125
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963

PLACEHOLDER_FORMATS = ("fbx", "usdz")


class _BinBuilder:
    """Accumulates 4-byte aligned bufferViews for the GLB BIN chunk."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.length = 0
        self.views: list[dict] = []

    def add(self, data: bytes, target: int | None = None) -> int:
        pad = (-self.length) % 4
        if pad:
            self.parts.append(b"\x00" * pad)
            self.length += pad
        view = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.parts.append(data)
        self.length += len(data)
        return len(self.views) - 1

    def blob(self) -> bytes:
        data = b"".join(self.parts)
        return data + b"\x00" * ((-len(data)) % 4)


def _bounds(flat: array, comps: int) -> tuple[list[float], list[float]]:
    lo = [float(min(flat[c::comps])) for c in range(comps)]
    hi = [float(max(flat[c::comps])) for c in range(comps)]
    return lo, hi


def build_glb(
    mesh: Mesh,
    base_color: tuple[bytes, str] | None = None,
    pbr: dict[str, bytes] | None = None,
    generator: str = "meshy_server",
) -> bytes:
    """glTF 2.0 binary: one mesh, one material; base colour image embedded as given.

    pbr keys (all optional): metallic_roughness, normal, emission (PNG bytes).
    """
    binb = _BinBuilder()
    accessors: list[dict] = []

    def accessor(view: int, ctype: int, count: int, kind: str, **extra) -> int:
        accessors.append({"bufferView": view, "componentType": ctype, "count": count, "type": kind, **extra})
        return len(accessors) - 1

    n = mesh.vertex_count
    lo, hi = _bounds(mesh.positions, 3)
    a_pos = accessor(binb.add(le_bytes(mesh.positions), _ARRAY_BUFFER), _FLOAT, n, "VEC3", min=lo, max=hi)
    a_nrm = accessor(binb.add(le_bytes(mesh.normals), _ARRAY_BUFFER), _FLOAT, n, "VEC3")
    a_uv = accessor(binb.add(le_bytes(mesh.uvs), _ARRAY_BUFFER), _FLOAT, n, "VEC2")
    if n < 65536:
        idx_bytes, idx_type = le_bytes(array("H", mesh.indices)), _UINT16
    else:
        idx_bytes, idx_type = le_bytes(mesh.indices), _UINT32
    a_idx = accessor(binb.add(idx_bytes, _ELEMENT_ARRAY_BUFFER), idx_type, len(mesh.indices), "SCALAR")

    images: list[dict] = []
    textures: list[dict] = []

    def texture(data: bytes, mime: str) -> int:
        images.append({"bufferView": binb.add(data), "mimeType": mime})
        textures.append({"sampler": 0, "source": len(images) - 1})
        return len(textures) - 1

    material: dict = {"name": "MeshyMaterial", "pbrMetallicRoughness": {}}
    mr = material["pbrMetallicRoughness"]
    if base_color is None:
        mr.update(baseColorFactor=[0.8, 0.8, 0.8, 1.0], metallicFactor=0.0, roughnessFactor=0.7)
    else:
        mr["baseColorTexture"] = {"index": texture(*base_color)}
        mr.update(metallicFactor=0.0, roughnessFactor=0.8)
    pbr = pbr or {}
    if base_color is not None and pbr.get("metallic_roughness"):
        mr["metallicRoughnessTexture"] = {"index": texture(pbr["metallic_roughness"], "image/png")}
        mr.update(metallicFactor=1.0, roughnessFactor=1.0)
    if base_color is not None and pbr.get("normal"):
        material["normalTexture"] = {"index": texture(pbr["normal"], "image/png")}
    if base_color is not None and pbr.get("emission"):
        material["emissiveTexture"] = {"index": texture(pbr["emission"], "image/png")}
        material["emissiveFactor"] = [1.0, 1.0, 1.0]

    primitive = {
        "attributes": {"POSITION": a_pos, "NORMAL": a_nrm, "TEXCOORD_0": a_uv},
        "indices": a_idx,
        "material": 0,
        "mode": 4,
    }
    bin_chunk = binb.blob()
    gltf: dict = {
        "asset": {"version": "2.0", "generator": generator},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "Model"}],
        "meshes": [{"name": "Model", "primitives": [primitive]}],
        "materials": [material],
        "accessors": accessors,
        "bufferViews": binb.views,
        "buffers": [{"byteLength": len(bin_chunk)}],
    }
    if textures:
        gltf.update(
            textures=textures,
            images=images,
            samplers=[{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}],
        )
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    total = 12 + 8 + len(js) + 8 + len(bin_chunk)
    return b"".join(
        (
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(js), b"JSON"),
            js,
            struct.pack("<I4s", len(bin_chunk), b"BIN\x00"),
            bin_chunk,
        )
    )


def parse_glb(data: bytes) -> tuple[dict, bytes]:
    """(json, bin) from a GLB; raises ValueError on structural problems. Used by tests/tools."""
    if len(data) < 20:
        raise ValueError("too short")
    magic, version, total = struct.unpack("<4sII", data[:12])
    if magic != b"glTF" or version != 2 or total != len(data):
        raise ValueError("bad header")
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    if jtype != b"JSON" or jlen % 4:
        raise ValueError("bad JSON chunk")
    gltf = json.loads(data[20 : 20 + jlen])
    rest = data[20 + jlen :]
    binary = b""
    if rest:
        blen, btype = struct.unpack("<I4s", rest[:8])
        if btype != b"BIN\x00" or blen % 4 or len(rest) != 8 + blen:
            raise ValueError("bad BIN chunk")
        binary = rest[8:]
    return gltf, binary


# --------------------------------------------------------------------------- OBJ / STL / 3MF


def build_obj(mesh: Mesh, mtl_name: str | None) -> bytes:
    """Wavefront OBJ of the same mesh (OBJ v points up, so vt = 1 - glTF v)."""
    p, nm, t = mesh.positions, mesh.normals, mesh.uvs
    out = ["# meshy_server generated OBJ\n"]
    if mtl_name:
        out.append(f"mtllib {mtl_name}\n")
    out.append("o Model\n")
    out.append("".join(map("v %.6f %.6f %.6f\n".__mod__, zip(p[0::3], p[1::3], p[2::3]))))
    out.append("".join(map("vt %.6f %.6f\n".__mod__, zip(t[0::2], [1.0 - v for v in t[1::2]]))))
    out.append("".join(map("vn %.5f %.5f %.5f\n".__mod__, zip(nm[0::3], nm[1::3], nm[2::3]))))
    if mtl_name:
        out.append("usemtl MeshyMaterial\n")
    i = mesh.indices
    one = [x + 1 for x in i]
    out.append("".join(map("f %d/%d/%d %d/%d/%d %d/%d/%d\n".__mod__, _face_triples(one))))
    return "".join(out).encode()


def _face_triples(one: list[int]):
    for k in range(0, len(one), 3):
        a, b, c = one[k], one[k + 1], one[k + 2]
        yield (a, a, a, b, b, b, c, c, c)


def build_mtl(texture_name: str | None, pbr_names: dict[str, str] | None = None) -> bytes:
    """MTL referencing the texture files served next to the OBJ."""
    lines = ["# meshy_server generated MTL", "newmtl MeshyMaterial", "Ka 1.000 1.000 1.000"]
    lines += ["Kd 1.000 1.000 1.000", "Ks 0.000 0.000 0.000", "d 1.0", "illum 2"]
    if texture_name:
        lines.append(f"map_Kd {texture_name}")
    for key, name in (pbr_names or {}).items():
        lines.append(f"{key} {name}")
    return ("\n".join(lines) + "\n").encode()


def build_stl(mesh: Mesh) -> bytes:
    """Binary STL with per-face normals."""
    p, idx = mesh.positions, mesh.indices
    n_tri = len(idx) // 3
    out = bytearray(84 + 50 * n_tri)
    out[:80] = b"meshy_server generated STL".ljust(80, b" ")
    struct.pack_into("<I", out, 80, n_tri)
    rec = struct.Struct("<12fH")
    off = 84
    for k in range(0, len(idx), 3):
        a, b, c = 3 * idx[k], 3 * idx[k + 1], 3 * idx[k + 2]
        ax, ay, az = p[a], p[a + 1], p[a + 2]
        bx, by, bz = p[b], p[b + 1], p[b + 2]
        cx, cy, cz = p[c], p[c + 1], p[c + 2]
        ux, uy, uz = bx - ax, by - ay, bz - az
        vx, vy, vz = cx - ax, cy - ay, cz - az
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        ln = math.sqrt(nx * nx + ny * ny + nz * nz) or 1.0
        rec.pack_into(out, off, nx / ln, ny / ln, nz / ln, ax, ay, az, bx, by, bz, cx, cy, cz, 0)
        off += 50
    return bytes(out)


def build_3mf(mesh: Mesh) -> bytes:
    """A real 3MF package (zip + XML), Z up, millimetres."""
    p = mesh.positions
    verts = "".join(
        f'<vertex x="{x * 100:.4f}" y="{-z * 100:.4f}" z="{y * 100:.4f}"/>'
        for x, y, z in zip(p[0::3], p[1::3], p[2::3])
    )
    i = mesh.indices
    tris = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in zip(i[0::3], i[1::3], i[2::3]))
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<model unit="millimeter" xml:lang="en-US" '
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">'
        f'<resources><object id="1" type="model"><mesh><vertices>{verts}</vertices>'
        f'<triangles>{tris}</triangles></mesh></object></resources><build><item objectid="1"/></build></model>'
    )
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
        'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", types)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("3D/3dmodel.model", model)
    return buf.getvalue()


def placeholder(fmt: str) -> bytes:
    """FBX/USDZ are not generated for real: a short, clearly labelled stand-in file."""
    return f"MESHY_SERVER PLACEHOLDER: model.{fmt} is not a real {fmt.upper()} file.\n".encode()
