"""The local server's follow-up files in real Blender: the rigged GLB imports as an armature with a skinned
mesh and two actions, an animation task's GLB as the same skeleton with the library clip, a remesh at its
target. (Landing them through the add-on is the Blender side's work; this checks what it will be given.)"""

import base64
import json
import struct
import urllib.request
import zlib

import bpy
import pytest

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
API = "/openapi/v1"


def _png(w: int, h: int) -> bytes:
    raw = b"".join(b"\x00" + b"\xc8\x78\x3c" * w for _ in range(h))

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _api(srv, method, path, body=None):
    req = urllib.request.Request(srv.url + API + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _fetch(url, path):
    with urllib.request.urlopen(url, timeout=120) as r:
        path.write_bytes(r.read())
    return str(path)


@pytest.fixture
def rig_task(meshy_server):
    photo = "data:image/png;base64," + base64.b64encode(_png(40, 80)).decode()
    src = _api(meshy_server, "POST", "/image-to-3d", {"image_url": photo})["result"]
    rig = _api(meshy_server, "POST", "/rigging", {"input_task_id": src, "height_meters": 1.8})["result"]
    return _api(meshy_server, "GET", f"/rigging/{rig}")


def _clip(action, arm) -> str:
    """The glTF clip an action came from: Blender 4.2's importer names it "<clip>_<object>", 4.5's "<clip>"."""
    return action.name.removesuffix("_" + arm.name)


def _imported(path):
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=path)
    return [o for o in bpy.data.objects if o not in before]


def test_rigged_glb_is_an_armature_with_a_skinned_mesh_and_two_actions(clean_scene, rig_task, tmp_path):
    assert rig_task["status"] == "SUCCEEDED"
    new = _imported(_fetch(rig_task["result"]["rigged_character_glb_url"], tmp_path / "rigged.glb"))
    (arm,) = [o for o in new if o.type == "ARMATURE"]
    meshes = [o for o in new if o.type == "MESH" and o.parent is arm]
    assert len(meshes) == 1
    mesh = meshes[0]
    assert {"Hips", "Spine", "Head", "LeftArm", "RightForeArm", "LeftUpLeg", "RightFoot"} <= set(arm.data.bones.keys())
    mods = [m for m in mesh.modifiers if m.type == "ARMATURE"]
    assert len(mods) == 1 and mods[0].object is arm
    groups = {g.index: g.name for g in mesh.vertex_groups}
    assert {"Hips", "Head", "LeftUpLeg", "RightUpLeg"} <= set(groups.values())
    weighted = [v for v in mesh.data.vertices if v.groups]
    assert len(weighted) == len(mesh.data.vertices)
    assert all(abs(sum(g.weight for g in v.groups) - 1.0) < 1e-3 for v in weighted[::50])
    assert len({groups[g.group] for v in weighted for g in v.groups if g.weight > 0.5}) >= 10
    zs = [(mesh.matrix_world @ v.co).z for v in mesh.data.vertices]  # glTF Y up is Blender's Z up
    assert max(zs) - min(zs) == pytest.approx(1.8, abs=1e-3)
    actions = {_clip(a, arm): a for a in bpy.data.actions}
    assert {"Walking", "Running"} <= set(actions)
    on_arm = {s.action for t in arm.animation_data.nla_tracks for s in t.strips} | {arm.animation_data.action}
    assert {actions["Walking"], actions["Running"]} <= on_arm
    # The clip really moves the legs: the left foot is elsewhere half a stride later.
    arm.animation_data.action = actions["Walking"]
    scene = bpy.context.scene
    feet = []
    for frame in (1, 7):
        scene.frame_set(frame)
        feet.append((arm.matrix_world @ arm.pose.bones["LeftFoot"].head).copy())
    assert (feet[0] - feet[1]).length > 0.05


def test_animation_and_walking_glbs_import_on_the_same_skeleton(clean_scene, rig_task, meshy_server, tmp_path):
    anim = _api(meshy_server, "POST", "/animations", {"rig_task_id": rig_task["id"], "action_id": 0})["result"]
    task = _api(meshy_server, "GET", f"/animations/{anim}")
    new = _imported(_fetch(task["result"]["animation_glb_url"], tmp_path / "idle.glb"))
    (arm,) = [o for o in new if o.type == "ARMATURE"]
    assert _clip(arm.animation_data.action, arm) == "Idle" and len(arm.data.bones) >= 20
    armature_only = _imported(_fetch(rig_task["result"]["basic_animations"]["walking_armature_glb_url"],
                                     tmp_path / "walk_armature.glb"))
    (arm2,) = [o for o in armature_only if o.type == "ARMATURE"]
    assert not [o for o in armature_only if o.type == "MESH" and o.parent is arm2]
    assert set(arm2.data.bones.keys()) == set(arm.data.bones.keys())
    assert _clip(arm2.animation_data.action, arm2) == "Walking"


def test_a_remeshed_glb_has_its_target_polycount(clean_scene, meshy_server, tmp_path):
    photo = "data:image/png;base64," + base64.b64encode(_png(40, 80)).decode()
    src = _api(meshy_server, "POST", "/image-to-3d", {"image_url": photo})["result"]
    task_id = _api(meshy_server, "POST", "/remesh", {"input_task_id": src, "target_polycount": 2000})["result"]
    task = _api(meshy_server, "GET", f"/remesh/{task_id}")
    (obj,) = [o for o in _imported(_fetch(task["model_urls"]["glb"], tmp_path / "remesh.glb")) if o.type == "MESH"]
    triangles = sum(len(p.vertices) - 2 for p in obj.data.polygons)
    assert abs(triangles - 2000) <= 20
    assert obj.active_material.node_tree.nodes.get("Image Texture") is not None  # the texture kept
