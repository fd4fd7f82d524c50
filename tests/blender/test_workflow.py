"""An artist's whole loop in real Blender against the local Meshy server: submit, pump, import, PBR wired."""

from __future__ import annotations

import threading

import bpy
import pytest
from checks import assert_fully_wired, bsdf_of, data_names
from workflow_support import TEST_KEY, make_image, png_file, pump_until, reference_empty, save_image, server_task

PBR = {"enable_pbr": True, "ai_model": "meshy-6"}


def mesh_objects(objects):
    return [o for o in objects if o.type == "MESH"]


def assert_imported(objects, label):
    meshes = mesh_objects(objects)
    assert meshes, "no mesh imported"
    coll = meshes[0].users_collection[0]
    assert coll.name.startswith(label)
    assert all(o.select_get() for o in objects)
    assert bpy.context.view_layer.objects.active in objects
    return meshes[0]


def test_file_to_model_with_wired_pbr(meshy):
    path = png_file(meshy.tmp, "chair")
    job = meshy.api.submit_image(str(path), **PBR)
    objects = meshy.api.wait(job, timeout=60)
    mesh = assert_imported(objects, "chair")
    assert_fully_wired(bsdf_of(mesh))
    task = server_task(meshy.server, job.view.task_id)
    assert task.images[0][0] == path.read_bytes(), "a PNG on disk is sent as its own bytes"
    assert job.state == "imported"
    assert mesh["meshy_job_id"] == job.id


@pytest.mark.parametrize("kind", ["packed", "generated", "exr"])
def test_blender_images_to_model(meshy, kind):
    if kind == "generated":
        img = make_image("painted")
    elif kind == "packed":
        path = png_file(meshy.tmp, "packed")
        img = bpy.data.images.load(str(path))
        img.pack()
    else:
        src = make_image("hdr", float_buffer=True)
        path = save_image(src, meshy.tmp / "hdr.exr", "OPEN_EXR")
        bpy.data.images.remove(src)
        img = bpy.data.images.load(str(path))
    bpy.context.scene.meshy.image = img
    assert bpy.ops.meshy.image_to_3d(enable_pbr=True, ai_model="meshy-6") == {"FINISHED"}
    job = meshy.api.jobs()[0]
    objects = meshy.api.wait(job, timeout=60)
    mesh = assert_imported(objects, img.name.split(".")[0])
    assert_fully_wired(bsdf_of(mesh))
    sent, mime = server_task(meshy.server, job.view.task_id).images[0]
    assert mime == "image/png" and sent[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("count", [1, 2, 4])
def test_reference_empties_to_model(meshy, count):
    empties = [reference_empty(f"ref{i}", make_image(f"view{i}", 32 + i, 32)) for i in range(count)]
    bpy.context.view_layer.objects.active = empties[-1]
    assert bpy.ops.meshy.multi_image_to_3d() == {"FINISHED"}
    job = meshy.api.jobs()[0]
    objects = meshy.api.wait(job, timeout=60)
    assert mesh_objects(objects)
    task = server_task(meshy.server, job.view.task_id)
    assert task.kind == ("image-to-3d" if count == 1 else "multi-image-to-3d")
    assert len(task.images) == count
    # The active empty's image goes first: its width is 32 + (count - 1).
    first = task.images[0][0]
    assert int.from_bytes(first[16:20], "big") == 32 + count - 1


def test_options_reach_the_server_as_sent(meshy):
    path = png_file(meshy.tmp, "opts")
    s = bpy.context.scene.meshy
    s.ai_model, s.should_remesh, s.target_polycount, s.topology = "meshy-5", "ON", 1234, "quad"
    s.symmetry_mode, s.texture_prompt, s.moderation = "on", "weathered oak", True
    assert bpy.ops.meshy.image_to_3d(filepath=str(path), pose_mode="t-pose") == {"FINISHED"}
    job = meshy.api.jobs()[0]
    meshy.api.wait(job, timeout=60)
    opts = server_task(meshy.server, job.view.task_id).opts
    expected = {"ai_model": "meshy-5", "should_remesh": True, "target_polycount": 1234, "topology": "quad",
                "symmetry_mode": "on", "texture_prompt": "weathered oak", "moderation": True, "pose_mode": "t-pose"}
    assert {k: opts.get(k) for k in expected} == expected


def test_only_changed_options_are_sent(meshy):
    meshy_mod = __import__(meshy.api.__name__.rpartition(".")[0] + ".blender.properties", fromlist=["x"])
    assert meshy_mod.to_options(bpy.context.scene.meshy) == {}


def test_failed_task_shows_server_message_and_leaves_scene(meshy):
    before = data_names()
    path = png_file(meshy.tmp, "blocked")
    job = meshy.api.submit_image(str(path), texture_prompt="[fail:moderation_blocked]")
    with pytest.raises(meshy.api.JobFailed) as err:
        meshy.api.wait(job, timeout=60)
    assert job.state == "failed"
    assert "moderation" in job.view.error.lower() or "flagged" in job.view.error.lower()
    assert str(err.value)
    after = data_names()
    assert after["objects"] == before["objects"] and after["meshes"] == before["meshes"]


def test_cancel_stops_following(meshy):
    meshy.server.task_seconds = 30.0
    path = png_file(meshy.tmp, "slow")
    job = meshy.api.submit_image(str(path))
    assert bpy.ops.meshy.cancel_task(job_id=job.id) == {"FINISHED"}
    with pytest.raises(meshy.api.JobFailed):
        meshy.api.wait(job, timeout=30)
    assert job.state == "canceled"
    assert not [o for o in bpy.data.objects if o.get("meshy_job_id") == job.id]


def test_pump_does_no_network_io(meshy):
    """Sockets are opened by worker threads only; the main-thread step never connects."""
    import sys

    main = threading.main_thread()
    seen = {"main": 0, "workers": 0}
    active = {"on": True}

    def hook(event, _args):
        if active["on"] and event in ("socket.connect", "socket.getaddrinfo"):
            seen["main" if threading.current_thread() is main else "workers"] += 1

    sys.addaudithook(hook)
    try:
        path = png_file(meshy.tmp, "audited")
        eng = meshy.runtime.engine()
        job = meshy.api.submit_image(str(path), **PBR)
        seen["main"] = 0  # submit() may create the engine; only pump steps are audited below
        import time

        deadline = time.monotonic() + 60
        while job.state != "imported" and time.monotonic() < deadline:
            meshy.pump.tick(bpy.context, events=eng.poll_events(timeout=0.2))
        assert job.state == "imported"
    finally:
        active["on"] = False
    assert seen["main"] == 0
    assert seen["workers"] > 0


def test_undo_removes_import_in_one_step(meshy):
    bpy.ops.ed.undo_push(message="before")
    before = data_names()
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "undoable")))
    objects = meshy.api.wait(job, timeout=60)
    assert objects
    bpy.ops.ed.undo()
    after = data_names()
    assert after["objects"] == before["objects"]
    assert after["meshes"] == before["meshes"]


def test_key_never_in_saved_blend(meshy, monkeypatch):
    secret = "msy_dummy_api_key_for_test_mode_12345678"
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "secret")))
    meshy.api.wait(job, timeout=60)
    blend = meshy.tmp / "with_model.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False)
    assert secret.encode() not in blend.read_bytes()


def test_account_history_lists_and_imports_existing_tasks(meshy):
    """A task made elsewhere (Meshy's site, another machine) is listed and imported from the panel."""
    import base64
    import json
    import urllib.request

    data = png_file(meshy.tmp, "elsewhere").read_bytes()
    body = json.dumps({"image_url": "data:image/png;base64," + base64.b64encode(data).decode()}).encode()
    req = urllib.request.Request(meshy.server.url + "/openapi/v1/image-to-3d", data=body, method="POST",
                                 headers={"Authorization": "Bearer " + TEST_KEY, "Content-Type": "application/json"})
    task_id = json.load(urllib.request.urlopen(req))["result"]
    account = meshy.runtime.account
    account["history"] = None
    assert bpy.ops.meshy.refresh_history() == {"FINISHED"}
    pump_until(meshy, lambda: account["history"] is not None or account["history_error"])
    listed = {t.id: kind for kind, t in account["history"]}
    assert listed.get(task_id) == "image-to-3d"
    assert bpy.ops.meshy.import_history(task_id=task_id, kind="image-to-3d", label="From history") == {"FINISHED"}
    job = meshy.api.jobs()[0]
    objects = meshy.api.wait(job, timeout=60)
    assert mesh_objects(objects)[0].users_collection[0].name.startswith("From history")
    assert meshy.server.stats()["creates"] == 1  # imported, not generated again


def test_balance_refresh(meshy):
    account = meshy.runtime.account
    account["balance"] = None
    assert bpy.ops.meshy.refresh_balance() == {"FINISHED"}
    pump_until(meshy, lambda: account["balance"] is not None or account["balance_error"])
    assert account["balance"] == meshy.server.test_balance()
