"""Rigging: a humanoid skeleton fitted to a model's bounds, skin weights, and skinned GLBs with clips.

The model is scaled to height_meters (feet at 0, centred), 23 joints with Mixamo-style names are
placed by human proportions (arms in T-pose when the model is wide enough, else hanging at the
angle its bounds allow), and every vertex gets up to 4 weights from its distance to the bone
segments (inverse fourth power; a left bone never pulls a vertex well right of the middle). The GLB
has one skin, an "Armature" root node, the mesh, and one glTF animation per clip (anim.py).
"""

from __future__ import annotations

import json
import math
import struct
from array import array
from dataclasses import dataclass

from .formats import _BinBuilder
from .mesh import Mesh, le_bytes
from .modelio import SourceModel, bounds
from .remesh import resize

# (name, parent) in order; parents come before children.
JOINTS = (
    ("Hips", None), ("Spine", "Hips"), ("Spine1", "Spine"), ("Spine2", "Spine1"), ("Neck", "Spine2"),
    ("Head", "Neck"), ("HeadTop_End", "Head"),
    ("LeftShoulder", "Spine2"), ("LeftArm", "LeftShoulder"), ("LeftForeArm", "LeftArm"), ("LeftHand", "LeftForeArm"),
    ("RightShoulder", "Spine2"), ("RightArm", "RightShoulder"), ("RightForeArm", "RightArm"),
    ("RightHand", "RightForeArm"),
    ("LeftUpLeg", "Hips"), ("LeftLeg", "LeftUpLeg"), ("LeftFoot", "LeftLeg"), ("LeftToeBase", "LeftFoot"),
    ("RightUpLeg", "Hips"), ("RightLeg", "RightUpLeg"), ("RightFoot", "RightLeg"), ("RightToeBase", "RightFoot"),
)
NAMES = tuple(n for n, _ in JOINTS)
PARENT = dict(JOINTS)
UNWEIGHTED = frozenset({"HeadTop_End"})
FORWARD = (0.0, 0.0, 1.0)  # glTF: the character faces +Z


class NotHumanoid(ValueError):
    """Pose estimation would fail: the model's shape is not a standing biped."""


@dataclass
class Clip:
    """One animation: sample times (s) and, per joint, rotations (x, y, z, w) and/or translations."""

    name: str
    times: list[float]
    rotations: dict[str, list[tuple[float, float, float, float]]]
    translations: dict[str, list[tuple[float, float, float]]]


@dataclass
class Rig:
    """A model scaled to its height, its joints (world rest positions), swing axes and skin weights."""

    mesh: Mesh
    base_color: tuple[bytes, str] | None
    joints: dict[str, tuple[float, float, float]]
    swing_axes: dict[str, tuple[float, float, float]]
    joint_index: array  # 4 per vertex (uint8)
    weights: array  # 4 per vertex (float32)
    height: float


def check_humanoid(lo: list[float], hi: list[float]) -> None:
    """A standing biped is taller than it is wide; anything else fails like Meshy's pose estimation."""
    width, height = hi[0] - lo[0], hi[1] - lo[1]
    if height <= 0 or height < width:
        raise NotHumanoid(
            f"Pose estimation failed: the model is {width:.2f} wide and {height:.2f} tall, not a standing "
            "humanoid (biped) character with clear limbs"
        )


def build_rig(model: SourceModel, height: float, base_color: tuple[bytes, str] | None = None) -> Rig:
    """Scale to height (feet at y = 0), fit the skeleton, weight every vertex."""
    mesh = Mesh(array("f", model.mesh.positions), model.mesh.normals, model.mesh.uvs, model.mesh.indices)
    lo, hi = bounds(mesh)
    check_humanoid(lo, hi)
    resize(mesh, height=height, origin="bottom")
    lo, hi = bounds(mesh)
    joints = fit_skeleton(lo, hi)
    axes = {n: _swing_axis(joints, n) for n in NAMES}
    idx, w = skin_weights(mesh, joints)
    return Rig(mesh, base_color or model.textures.get("base_color"), joints, axes, idx, w, height)


def fit_skeleton(lo: list[float], hi: list[float]) -> dict[str, tuple[float, float, float]]:
    """World rest positions from human proportions within the bounds."""
    h = hi[1] - lo[1]
    hw = max(abs(lo[0]), abs(hi[0]), 1e-6)
    z = (lo[2] + hi[2]) / 2
    j: dict[str, tuple[float, float, float]] = {}
    for name, y in (("Hips", 0.52), ("Spine", 0.60), ("Spine1", 0.68), ("Spine2", 0.76), ("Neck", 0.84),
                    ("Head", 0.88), ("HeadTop_End", 1.0)):
        j[name] = (0.0, y * h, z)
    shoulder, arm_x = min(0.05 * h, 0.2 * hw), min(0.11 * h, 0.4 * hw)
    reach = max(0.0, 0.95 * hw - arm_x)
    length = 0.34 * h
    dx = min(1.0, reach / length)
    dy = -math.sqrt(max(0.0, 1.0 - dx * dx))
    leg_x = min(0.09 * h, 0.5 * hw)
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        j[side + "Shoulder"] = (s * shoulder, 0.80 * h, z)
        j[side + "Arm"] = (s * arm_x, 0.80 * h, z)
        j[side + "ForeArm"] = (s * (arm_x + dx * 0.17 * h), 0.80 * h + dy * 0.17 * h, z)
        j[side + "Hand"] = (s * (arm_x + dx * 0.33 * h), 0.80 * h + dy * 0.33 * h, z)
        j[side + "UpLeg"] = (s * leg_x, 0.50 * h, z)
        j[side + "Leg"] = (s * leg_x, 0.28 * h, z)
        j[side + "Foot"] = (s * leg_x, 0.05 * h, z)
        j[side + "ToeBase"] = (s * leg_x, 0.01 * h, z + 0.08 * h)
    return {n: (x, y + lo[1], zz) for n, (x, y, zz) in j.items()}


def _children(name: str) -> list[str]:
    return [n for n, p in JOINTS if p == name]


def _segment(joints, name: str):
    """The bone as a segment: to its first child, or onward from its parent for a leaf."""
    a = joints[name]
    kids = _children(name)
    if kids:
        return a, joints[kids[0]]
    p = joints[PARENT[name]]
    return a, tuple(a[q] + 0.5 * (a[q] - p[q]) for q in range(3))


def _swing_axis(joints, name: str) -> tuple[float, float, float]:
    """Axis turning the bone backwards for a positive angle: forward x bone direction."""
    a, b = _segment(joints, name)
    d = [b[q] - a[q] for q in range(3)]
    ax = (FORWARD[1] * d[2] - FORWARD[2] * d[1], FORWARD[2] * d[0] - FORWARD[0] * d[2],
          FORWARD[0] * d[1] - FORWARD[1] * d[0])
    ln = math.sqrt(sum(c * c for c in ax))
    return (1.0, 0.0, 0.0) if ln < 1e-9 else (ax[0] / ln, ax[1] / ln, ax[2] / ln)


def skin_weights(mesh: Mesh, joints) -> tuple[array, array]:
    """Up to 4 joints per vertex, weights summing to 1, from the distance to each bone segment."""
    segs = []
    h = max(j[1] for j in joints.values()) - min(j[1] for j in joints.values())
    middle = 0.03 * h
    for i, name in enumerate(NAMES):
        if name in UNWEIGHTED:
            continue
        a, b = _segment(joints, name)
        d = [b[q] - a[q] for q in range(3)]
        side = 1 if name.startswith("Left") else (-1 if name.startswith("Right") else 0)
        segs.append((i, a, d, sum(c * c for c in d) or 1e-12, side))
    eps = (0.01 * h) ** 2
    idx_out = array("B")
    w_out = array("f")
    p = mesh.positions
    for v in range(0, len(p), 3):
        x, y, z = p[v], p[v + 1], p[v + 2]
        scored = []
        for i, a, d, dd, side in segs:
            if side * x < -middle:
                continue
            t = ((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / dd
            t = 0.0 if t < 0 else (1.0 if t > 1 else t)
            ex, ey, ez = x - a[0] - t * d[0], y - a[1] - t * d[1], z - a[2] - t * d[2]
            scored.append((1.0 / (ex * ex + ey * ey + ez * ez + eps) ** 2, i))
        scored.sort(reverse=True)
        top = scored[:4]
        total = sum(s for s, _ in top)
        for k in range(4):
            if k < len(top):
                idx_out.append(top[k][1])
                w_out.append(top[k][0] / total)
            else:
                idx_out.append(0)
                w_out.append(0.0)
    return idx_out, w_out


# --------------------------------------------------------------------------- the GLB


def build_rigged_glb(rig: Rig, clips: list[Clip], with_mesh: bool = True) -> bytes:
    """A skinned character (or, with_mesh False, the armature alone) with one animation per clip."""
    binb = _BinBuilder()
    accessors: list[dict] = []

    def add(data: bytes, ctype: int, count: int, kind: str, target: int | None = None, **extra) -> int:
        accessors.append({"bufferView": binb.add(data, target), "componentType": ctype, "count": count,
                          "type": kind, **extra})
        return len(accessors) - 1

    base = 2 if with_mesh else 1  # node 0: Armature, node 1: the mesh
    joint_nodes = []
    for name, parent in JOINTS:
        pos = rig.joints[name]
        rel = pos if parent is None else tuple(pos[q] - rig.joints[parent][q] for q in range(3))
        node: dict = {"name": name, "translation": [float(c) for c in rel]}
        kids = [base + NAMES.index(c) for c in _children(name)]
        if kids:
            node["children"] = kids
        joint_nodes.append(node)
    ibm = array("f")
    for name in NAMES:
        x, y, z = rig.joints[name]
        ibm.extend((1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, -x, -y, -z, 1))
    skin = {"name": "Armature", "joints": [base + i for i in range(len(NAMES))], "skeleton": base,
            "inverseBindMatrices": add(le_bytes(ibm), 5126, len(NAMES), "MAT4")}
    armature = {"name": "Armature", "children": ([1] if with_mesh else []) + [base]}
    nodes = [armature]
    gltf: dict = {"asset": {"version": "2.0", "generator": "meshy_server rig"}, "scene": 0,
                  "scenes": [{"nodes": [0]}], "skins": [skin]}
    if with_mesh:
        nodes.append({"name": "Character", "mesh": 0, "skin": 0})
        gltf.update(_mesh_part(rig, add, binb))
    nodes += joint_nodes
    gltf["nodes"] = nodes
    if clips:
        gltf["animations"] = [_animation(clip, add, base) for clip in clips]
    gltf["accessors"] = accessors
    gltf["bufferViews"] = binb.views
    blob = binb.blob()
    gltf["buffers"] = [{"byteLength": len(blob)}]
    return _pack(gltf, blob)


def _mesh_part(rig: Rig, add, binb) -> dict:
    m = rig.mesh
    n = m.vertex_count
    lo, hi = bounds(m)
    attrs = {
        "POSITION": add(le_bytes(m.positions), 5126, n, "VEC3", 34962, min=lo, max=hi),
        "NORMAL": add(le_bytes(m.normals), 5126, n, "VEC3", 34962),
        "TEXCOORD_0": add(le_bytes(m.uvs), 5126, n, "VEC2", 34962),
        "JOINTS_0": add(rig.joint_index.tobytes(), 5121, n, "VEC4", 34962),
        "WEIGHTS_0": add(le_bytes(rig.weights), 5126, n, "VEC4", 34962),
    }
    indices = add(le_bytes(m.indices), 5125, len(m.indices), "SCALAR", 34963)
    material: dict = {"name": "CharacterMaterial", "pbrMetallicRoughness": {"metallicFactor": 0.0,
                                                                            "roughnessFactor": 0.8}}
    out: dict = {"meshes": [{"name": "Character", "primitives": [
        {"attributes": attrs, "indices": indices, "material": 0, "mode": 4}]}], "materials": [material]}
    if rig.base_color is not None:
        data, mime = rig.base_color
        out["images"] = [{"bufferView": binb.add(data), "mimeType": mime}]
        out["textures"] = [{"sampler": 0, "source": 0}]
        out["samplers"] = [{"magFilter": 9729, "minFilter": 9987}]
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    else:
        material["pbrMetallicRoughness"]["baseColorFactor"] = [0.8, 0.8, 0.8, 1.0]
    return out


def _animation(clip: Clip, add, base: int) -> dict:
    times = array("f", clip.times)
    t_acc = add(le_bytes(times), 5126, len(times), "SCALAR", min=[times[0]], max=[times[-1]])
    samplers: list[dict] = []
    channels: list[dict] = []
    for path, table, width in (("rotation", clip.rotations, "VEC4"), ("translation", clip.translations, "VEC3")):
        for name, values in table.items():
            flat = array("f", [c for v in values for c in v])
            samplers.append({"input": t_acc, "output": add(le_bytes(flat), 5126, len(values), width),
                             "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": base + NAMES.index(name),
                                                                      "path": path}})
    return {"name": clip.name, "samplers": samplers, "channels": channels}


def _pack(gltf: dict, blob: bytes) -> bytes:
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    total = 12 + 8 + len(js) + 8 + len(blob)
    return b"".join((struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(js), b"JSON"), js,
                     struct.pack("<I4s", len(blob), b"BIN\x00"), blob))
