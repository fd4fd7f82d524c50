"""Follow-ups from a finished job in real Blender against the local server: Remesh, Retexture, Rig, Animate,
LODs through the API and the operators (converted in a background Blender, appended), and every rule
checked before anything is paid."""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np
import pytest
from checks import assert_fully_wired, bsdf_of
from workflow_support import make_image, png_file, server_task

PBR = {"enable_pbr": True, "ai_model": "meshy-6"}


@pytest.fixture
def source(meshy):
    """A finished Image to 3D job (imported into the scene): a standing figure, so it can be rigged."""
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "figure", width=40, height=80)), **PBR)
    meshy.api.wait(job, timeout=120)
    return job


def creates(meshy) -> int:
    return meshy.server.stats()["creates"]


def sent(meshy, job) -> dict:
    return dict(server_task(meshy.server, job.view.task_id).derived["request"])


def the_mesh(objects):
    """The model's mesh (a rig's skinned mesh: Blender's glTF importer adds an Icosphere bone shape too)."""
    meshes = [o for o in objects if o.type == "MESH"]
    (mesh,) = [o for o in meshes if o.parent is not None and o.parent.type == "ARMATURE"] or meshes
    return mesh


def triangles(obj) -> int:
    obj.data.calc_loop_triangles()
    return len(obj.data.loop_triangles)


def base_colour_mean(obj) -> np.ndarray:
    image = bsdf_of(obj).inputs["Base Color"].links[0].from_node.image
    px = np.empty(len(image.pixels), dtype=np.float32)
    image.pixels.foreach_get(px)
    return px.reshape(-1, 4)[:, :3].mean(axis=0)


def clip(action, arm) -> str:
    return action.name.removesuffix("_" + arm.name)


def clips_on(arm) -> dict:
    """Clip name -> action, for the armature's NLA tracks (each named after its clip)."""
    return {t.name: t.strips[0].action for t in arm.animation_data.nla_tracks}


def foot_moves(arm, action) -> float:
    arm.animation_data.action = action
    scene = bpy.context.scene
    spots = []
    for frame in (1, 7):
        scene.frame_set(frame)
        spots.append((arm.matrix_world @ arm.pose.bones["LeftFoot"].head).copy())
    return (spots[0] - spots[1]).length


# ------------------------------------------------------------------------------------ each follow-up


def test_remesh_lands_near_its_target_with_lineage(meshy, source):
    job = meshy.api.remesh(source, target_polycount=2000)
    mesh = the_mesh(meshy.api.wait(job, timeout=120))
    assert sent(meshy, job) == {"input_task_id": source.view.task_id, "target_polycount": 2000}
    assert abs(triangles(mesh) - 2000) <= 100
    assert mesh["meshy_operation"] == "remesh" and mesh["meshy_source_task_id"] == source.view.task_id
    assert mesh["meshy_source_job_id"] == source.id
    assert job.view.lineage["options"] == {"target_polycount": 2000}
    assert job.view.credits == 5
    assert bsdf_of(mesh).inputs["Base Color"].is_linked, "the source's texture is kept"
    folder = Path(job.view.folder)
    assert folder.parent == Path(source.view.folder).parent, "a new asset beside its source in the library"
    with bpy.data.libraries.load(str(folder / "model.blend"), assets_only=True) as (src, dst):
        names = [str(n) for n in src.collections]
        dst.collections = list(names)
    assert names == ["figure / remesh 2k"], "the Asset Browser shows what it was made from"
    data = dst.collections[0].asset_data
    assert "remesh" in [t.name for t in data.tags] and "figure" in [t.name for t in data.tags]
    assert f"Remesh of figure (task {source.view.task_id}, job {source.id})" in data.description
    assert "target_polycount=2000" in data.description and "Credits: 5" in data.description


def test_retexture_changes_the_base_colour_and_wires_pbr(meshy, source):
    before = base_colour_mean(the_mesh(source.objects))
    job = meshy.api.retexture(source, text_style_prompt="green moss", enable_pbr=True)
    mesh = the_mesh(meshy.api.wait(job, timeout=120))
    assert sent(meshy, job) == {"input_task_id": source.view.task_id, "text_style_prompt": "green moss",
                                "enable_pbr": True}
    assert_fully_wired(bsdf_of(mesh))
    assert np.abs(base_colour_mean(mesh) - before).max() > 0.05


def test_retexture_takes_any_blender_image_as_its_style(meshy, source):
    style = make_image("style", 16, 16)
    job = meshy.api.retexture(source, image_style_url=style)
    meshy.api.wait(job, timeout=120)
    body = sent(meshy, job)
    assert body["image_style_url"].startswith("data:image/png;base64,")
    assert set(body) == {"input_task_id", "image_style_url"}


def test_rig_lands_an_armature_with_a_skinned_mesh_and_two_playable_actions(meshy, source):
    job = meshy.api.rig(source)
    objects = meshy.api.wait(job, timeout=180)
    assert sent(meshy, job) == {"input_task_id": source.view.task_id, "height_meters": 1.7}
    (arm,) = [o for o in objects if o.type == "ARMATURE"]
    mesh = the_mesh(objects)
    assert mesh.parent is arm
    assert [m.object for m in mesh.modifiers if m.type == "ARMATURE"] == [arm]
    assert {"Hips", "Head", "LeftUpLeg"} <= {g.name for g in mesh.vertex_groups}
    clips = clips_on(arm)
    assert set(clips) == {"Walking", "Running"}
    assert {a.name for a in clips.values()} == {"Walking", "Running"}, "actions named after their clip"
    assert arm.animation_data.action == clips["Walking"], "ready to play"
    assert all(t.mute for t in arm.animation_data.nla_tracks)
    for action in clips.values():
        assert foot_moves(arm, action) > 0.05
    assert not [a for a in bpy.data.actions if a.users == 0], "no stray actions"


def test_animate_adds_the_clip_to_the_rig_in_the_scene(meshy, source):
    rig = meshy.api.rig(source)
    (arm,) = [o for o in meshy.api.wait(rig, timeout=180) if o.type == "ARMATURE"]
    objects_before = set(bpy.data.objects)
    job = meshy.api.animate(rig, 0)
    landed = meshy.api.wait(job, timeout=120)
    assert landed == [arm]
    assert set(bpy.data.objects) == objects_before, "no second character"
    assert sent(meshy, job) == {"rig_task_id": rig.view.task_id, "action_id": 0}
    clips = clips_on(arm)
    assert set(clips) == {"Walking", "Running", "Idle"}
    assert arm.animation_data.action == clips["Idle"]
    assert job.view.state == "imported" and job.view.label.endswith("Idle")
    again = meshy.api.animate(job, 1)  # an animation job stands for its rig
    assert meshy.api.wait(again, timeout=120) == [arm]
    assert sent(meshy, again) == {"rig_task_id": rig.view.task_id, "action_id": 1}
    assert set(clips_on(arm)) == {"Walking", "Running", "Idle", "Walking_Woman"}


def test_animate_without_the_rig_in_the_scene_lands_the_animated_character(meshy, source):
    rig = meshy.api.rig(source)
    for obj in meshy.api.wait(rig, timeout=180):
        bpy.data.objects.remove(obj)
    job = meshy.api.animate(rig.id, 0)
    objects = meshy.api.wait(job, timeout=120)
    (arm,) = [o for o in objects if o.type == "ARMATURE"]
    assert the_mesh(objects).parent is arm
    assert clip(arm.animation_data.action, arm) == "Idle"


def test_lods_land_as_lod0_to_lod2_in_one_collection(meshy, source):
    jobs = meshy.api.lods(source, (3000, 1000, 300))
    assert len(jobs) == 3
    counts = []
    for job in jobs:
        counts.append(triangles(the_mesh(meshy.api.wait(job, timeout=180))))
    (parent,) = [c for c in bpy.data.collections if c.name.endswith(" LODs")]
    assert sorted(c.name for c in parent.children) == ["figure / LOD0 3k", "figure / LOD1 1k", "figure / LOD2 300"]
    for job, target, got in zip(jobs, (3000, 1000, 300), counts, strict=True):
        assert abs(got - target) <= max(30, target // 20)
        assert sent(meshy, job) == {"input_task_id": source.view.task_id, "target_polycount": target}


def test_operator_sends_only_what_was_set(meshy, source):
    assert bpy.ops.meshy.remesh_task(job_id=source.id, target_polycount=4000) == {"FINISHED"}
    job = meshy.api.jobs()[0]
    assert job.view.kind == "remesh"
    meshy.api.wait(job, timeout=120)
    assert sent(meshy, job) == {"input_task_id": source.view.task_id, "target_polycount": 4000}


def test_a_meshy_task_id_is_a_source_too(meshy, source):
    job = meshy.api.remesh(source.view.task_id, target_polycount=1500)
    meshy.api.wait(job, timeout=120)
    assert sent(meshy, job)["input_task_id"] == source.view.task_id
    assert "source_job_id" not in job.view.lineage


# ------------------------------------------------------------------------------------ before paying


def refused(meshy, call, *words):
    before, jobs_before = creates(meshy), len(meshy.api.jobs())
    with pytest.raises(ValueError) as info:
        call()
    message = info.value.user_message
    for word in words:
        assert word in message, message
    assert creates(meshy) == before and len(meshy.api.jobs()) == jobs_before, "nothing written or sent"
    return message


def test_rigging_over_300000_faces_says_remesh_it_first(meshy, source):
    info = Path(source.view.folder) / "model.blend.json"  # as the converter counts a 1M-triangle model
    data = json.loads(info.read_text())
    info.write_text(json.dumps({**data, "triangles": 1_000_000}))
    refused(meshy, lambda: meshy.api.rig(source), "1,000,000 faces", "remesh it first")
    import importlib

    import bl_support

    layout = Recorder()  # the job list's menu offers the remesh in Rig's place: one click does it
    importlib.import_module(bl_support.MODULE + ".blender.followup_ops").draw_menu(layout, source.view)
    (rig,) = [e for e in layout.log if e["idname"] == "meshy.rig_task"]
    assert not rig["enabled"] and "remesh it first" in rig["text"]
    (first,) = [e for e in layout.log if e["props"].get("target_polycount")]
    assert first["idname"] == "meshy.remesh_task" and first["enabled"]
    assert first["props"] == {"job_id": source.id, "target_polycount": 100_000}
    assert first["text"] == "Remesh to 100k Faces for Rigging (5 credits)"
    assert bpy.ops.meshy.remesh_task(**first["props"]) == {"FINISHED"}
    remeshed = meshy.api.jobs()[0]
    meshy.api.wait(remeshed, timeout=120)
    assert sent(meshy, remeshed) == {"input_task_id": source.view.task_id, "target_polycount": 100_000}


def test_every_rule_before_paying(meshy, source):
    api = meshy.api
    refused(meshy, lambda: api.retexture(source), "text_style_prompt", "image_style_url")
    refused(meshy, lambda: api.animate(source, 0), "rig the model first")
    refused(meshy, lambda: api.remesh(source, target_polycount=50), "target_polycount")
    refused(meshy, lambda: api.remesh(source, polycount=5000), "unknown option")
    refused(meshy, lambda: api.rig(source, height_meters=0), "positive")
    refused(meshy, lambda: api.animate(source, -3), "action_id")
    refused(meshy, lambda: api.lods(source, (5000, 20)), "polycount")
    assert not [c for c in bpy.data.collections if c.name.endswith(" LODs")], "the scene is left as it was"
    retex = api.retexture(source, text_style_prompt="stone")
    api.wait(retex, timeout=120)
    refused(meshy, lambda: api.retexture(retex), "cannot start from a Retexture task")


def test_a_bare_task_id_of_a_kind_the_operation_does_not_take_fails_before_paying(meshy, source):
    """A Meshy task id is looked up on a worker before the create: its kind is checked like a job's."""
    before = creates(meshy)
    job = meshy.api.animate(source.view.task_id, 0)  # an Image to 3D task, not a rig
    with pytest.raises(meshy.api.JobFailed, match="Animation cannot start from an Image to 3D task"):
        meshy.api.wait(job, timeout=60)
    assert creates(meshy) == before and job.view.task_id is None, "nothing was created or paid"


def test_a_job_still_running_is_not_a_source(meshy):
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "busy")))
    refused(meshy, lambda: meshy.api.remesh(job), "not finished")
    meshy.api.wait(job, timeout=120)


def test_the_operator_reports_a_rule_and_sends_nothing(meshy, source):
    before = creates(meshy)
    with pytest.raises(RuntimeError, match="text_style_prompt"):
        bpy.ops.meshy.retexture_task(job_id=source.id)
    assert creates(meshy) == before



# ------------------------------------------------------------------------------------ buttons


class Recorder:
    """Stands in for a UILayout (the bpy module draws nothing): records rows and the operators on them."""

    def __init__(self, log=None, enabled=True):
        self.log = [] if log is None else log
        self.enabled = enabled
        self.operator_context = ""

    def row(self, **_kw):
        return Recorder(self.log)

    def label(self, text="", icon=""):
        self.log.append({"idname": "", "text": text, "enabled": self.enabled, "props": {}})

    def operator(self, idname, text="", icon=""):
        entry = {"idname": idname, "text": text, "enabled": self.enabled, "props": {}}
        self.log.append(entry)
        return _Props(entry["props"])


class _Props:
    def __init__(self, store):
        object.__setattr__(self, "store", store)

    def __setattr__(self, name, value):
        self.store[name] = value


def test_the_job_list_offers_the_follow_ups_of_a_finished_job_with_their_cost(meshy, source):
    import importlib

    import bl_support

    ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    ops = importlib.import_module(bl_support.MODULE + ".blender.followup_ops")
    row = Recorder()
    ui._draw_job_buttons(row, source.view)
    (menu,) = [e for e in row.log if e["idname"] == "meshy.followup_menu"]
    assert menu["props"] == {"job_id": source.id}
    layout = Recorder()
    ops.draw_menu(layout, source.view)
    entries = {e["idname"]: e for e in layout.log}
    assert entries["meshy.remesh_task"]["text"] == "Remesh (5 credits)"
    assert entries["meshy.retexture_task"]["text"] == "Retexture (10 credits)"
    assert entries["meshy.rig_task"]["text"] == "Rig (5 credits)"
    assert entries["meshy.make_lods"]["text"] == "Make LODs (5 credits each)"
    assert [k for k, e in entries.items() if not e["enabled"]] == ["meshy.animate_task"], "no rig to animate"
    assert all(e["props"] == {"job_id": source.id} for e in layout.log)


def test_rig_and_animate_operators(meshy, source):
    assert bpy.ops.meshy.rig_task(job_id=source.id, height_meters=1.8) == {"FINISHED"}
    rig = meshy.api.jobs()[0]
    (arm,) = [o for o in meshy.api.wait(rig, timeout=180) if o.type == "ARMATURE"]
    assert sent(meshy, rig) == {"input_task_id": source.view.task_id, "height_meters": 1.8}
    import importlib

    import bl_support

    layout = Recorder()
    importlib.import_module(bl_support.MODULE + ".blender.followup_ops").draw_menu(layout, rig.view)
    assert [e["idname"] for e in layout.log if e["enabled"]] == ["meshy.animate_task"]
    bpy.context.scene.render.fps = 50  # Meshy makes 24, 25, 30 or 60 fps: refused before paying, saying so
    with pytest.raises(RuntimeError, match="50 fps"):
        bpy.ops.meshy.animate_task(job_id=rig.id, action="1", frame_rate="SCENE")
    bpy.context.scene.render.fps = 25
    assert bpy.ops.meshy.animate_task(job_id=rig.id, action="1", frame_rate="SCENE") == {"FINISHED"}
    anim = meshy.api.jobs()[0]
    assert meshy.api.wait(anim, timeout=120) == [arm]
    assert sent(meshy, anim) == {"rig_task_id": rig.view.task_id, "action_id": 1,
                                 "post_process": {"operation_type": "change_fps", "fps": 25}}
    assert "Walking_Woman" in clips_on(arm)


def test_make_lods_operator(meshy, source):
    assert bpy.ops.meshy.make_lods(job_id=source.id, polycounts="2000, 500") == {"FINISHED"}
    jobs = meshy.api.jobs()[:2]
    assert sorted(j.view.options["target_polycount"] for j in jobs) == [500, 2000]
    for job in jobs:
        meshy.api.wait(job, timeout=180)
    with pytest.raises(RuntimeError, match="whole numbers"):
        bpy.ops.meshy.make_lods(job_id=source.id, polycounts="lots")


def test_rigging_a_non_humanoid_shows_meshys_422(meshy):
    wide = meshy.api.submit_image(str(png_file(meshy.tmp, "sofa", width=96, height=32)))
    meshy.api.wait(wide, timeout=120)
    job = meshy.api.rig(wide)
    with pytest.raises(meshy.api.JobFailed, match="not a valid humanoid"):
        meshy.api.wait(job, timeout=120)
    assert job.view.task_id is None, "refused: nothing was created or paid"


def test_a_model_in_the_scene_or_its_asset_is_a_source_too(meshy, source):
    """From the Asset Browser or the viewport: the object, the collection or the model.blend stands for its job."""
    obj = the_mesh(source.objects)
    job = meshy.api.remesh(obj, target_polycount=1200)
    assert job.view.lineage["source_job_id"] == source.id and job.view.label == "figure / remesh 1.2k"
    blend = str(Path(source.view.folder) / "model.blend")
    again = meshy.api.retexture(blend, text_style_prompt="blue denim")
    assert again.view.lineage["source_job_id"] == source.id
    for j in (job, again):
        meshy.api.wait(j, timeout=120)
        assert sent(meshy, j)["input_task_id"] == source.view.task_id
    import importlib
    from types import SimpleNamespace

    import bl_support

    ops = importlib.import_module(bl_support.MODULE + ".blender.followup_ops")
    assert ops._asset_job(SimpleNamespace(asset=blend)).id == source.id, "the Asset Browser's entry finds its job"
    assert ops._asset_job(SimpleNamespace(asset=None)) is None
    stranger = bpy.data.objects.new("stranger", None)
    with pytest.raises(ValueError, match="not a Meshy model"):
        meshy.api.remesh(stranger)


def test_account_history_rows_offer_the_follow_ups(meshy, source):
    import importlib

    import bl_support

    ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    Task = importlib.import_module(bl_support.MODULE + ".meshy.task").Task
    task = Task.from_json({"id": source.view.task_id, "status": "SUCCEEDED", "created_at": 1_780_000_000_000})
    meshy.runtime.account["history"] = [("image-to-3d", task)]
    layout = Recorder()
    ui.draw_history(layout, bpy.context)
    (menu,) = [e for e in layout.log if e["idname"] == "meshy.followup_menu"]
    assert menu["props"] == {"task_id": source.view.task_id, "kind": "image-to-3d"}
    ops = importlib.import_module(bl_support.MODULE + ".blender.followup_ops")
    entries = Recorder()
    ops.draw_menu(entries, ops._TaskSource(source.view.task_id, "image-to-3d"))
    remesh = next(e for e in entries.log if e["idname"] == "meshy.remesh_task")
    assert remesh["enabled"] and remesh["props"] == {"job_id": source.view.task_id}
    assert bpy.ops.meshy.remesh_task(**remesh["props"], target_polycount=900) == {"FINISHED"}
    job = meshy.api.jobs()[0]
    meshy.api.wait(job, timeout=120)
    assert sent(meshy, job) == {"input_task_id": source.view.task_id, "target_polycount": 900}
