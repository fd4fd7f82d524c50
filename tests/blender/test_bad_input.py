"""Bad input, in real Blender: a clear message (what is wrong + what to do) in the status bar and the
panel, Blender still running, nothing lost, and the scene exactly as it was.

Status bar: the operator's report (bpy.ops raises RuntimeError with it), the poll message, or the
pump's report for problems a worker finds later (both through report.tell). Panel: report.panel_message() (operator
problems, shown until dismissed), the poll reason it draws, or the job's error in the job list.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import bl_support
import bpy
import glb_factory
import numpy as np
import pytest
from checks import data_names
from test_faults import fast  # noqa: F401  (fixture: short engine and client delays)
from workflow_support import make_image, png_file, reference_empty, save_image, server_task

MOD = bl_support.MODULE


def addon_module(name):
    return importlib.import_module(f"{MOD}.{name}")


def status_bar_error(call, *words) -> str:
    """The operator fails with a report (bpy.ops raises it as RuntimeError) holding every word."""
    with pytest.raises(RuntimeError) as err:
        call()
    text = str(err.value)
    for word in words:
        assert word.lower() in text.lower(), text
    return text


def assert_panel(m, *words):
    text = m.report.panel_message()
    for word in words:
        assert word.lower() in text.lower(), text


def pump_report(m, *words) -> str:
    hits = [t for _, t in m.report.reports if all(w.lower() in t.lower() for w in words)]
    assert hits, m.report.reports
    return hits[0]


def wait_state(m, job, *states, timeout=30.0):
    eng = m.runtime.engine()
    deadline = time.monotonic() + timeout
    while job.state not in states:
        assert time.monotonic() < deadline, (job.state, job.view.phase)
        m.pump.tick(bpy.context, events=eng.poll_events(timeout=0.05))
    for _ in range(3):
        m.pump.tick(bpy.context, events=eng.poll_events(timeout=0.01))
    return job.view


def job_failed(m, job, *words, state="error"):
    """A job that ended without a model: its error in the job list and in the status bar."""
    view = wait_state(m, job, state)
    for word in words:
        assert word.lower() in view.error.lower(), view.error
    eng = m.runtime.engine()
    deadline = time.monotonic() + 10
    while not any(view.error[:40].lower() in t.lower() for _, t in m.report.reports):
        assert time.monotonic() < deadline, m.report.reports  # the event comes once its journal write is done
        m.pump.tick(bpy.context, events=eng.poll_events(timeout=0.05))
    pump_report(m, view.error[:40])
    return view


@pytest.fixture
def bad(request):
    m = request.getfixturevalue("fast")
    m.before = data_names()
    m.report.dismiss()
    yield m
    # Blender keeps running and the add-on still works after every bad input.
    assert bpy.context.scene is not None and MOD in bpy.context.preferences.addons


def keep_scene(m):
    assert data_names() == m.before, "the scene is exactly as it was"


# ----------------------------------------------------------------------------------- account & network


def test_no_api_key(bad, monkeypatch):
    monkeypatch.delenv("MESHY_API_KEY")
    prefs = bpy.context.preferences.addons[MOD].preferences
    saved, prefs.api_key = prefs.api_key, ""
    try:
        path = png_file(bad.tmp, "nokey")
        bad.before = data_names()
        status_bar_error(lambda: bpy.ops.meshy.image_to_3d(filepath=str(path)), "No Meshy API key", "Preferences")
        assert "No Meshy API key" in addon_module("blender.addon").unavailable_reason(bpy.context)  # the panel's
        with pytest.raises(RuntimeError, match="No Meshy API key"):
            bad.api.submit_image(str(path))
    finally:
        prefs.api_key = saved
    keep_scene(bad)
    assert bad.server.stats()["requests"] == 0


def test_online_access_off(bad):
    path = png_file(bad.tmp, "offline")
    bad.before = data_names()
    bpy.context.preferences.system.use_online_access = False
    try:
        assert not bpy.app.online_access
        status_bar_error(lambda: bpy.ops.meshy.image_to_3d(filepath=str(path)), "Online access is off",
                         "Preferences > System > Network")
        assert "Online access is off" in addon_module("blender.addon").unavailable_reason(bpy.context)
        status_bar_error(lambda: bpy.ops.meshy.refresh_balance(), "Online access is off")
    finally:
        bpy.context.preferences.system.use_online_access = True
    keep_scene(bad)
    assert bad.server.stats()["requests"] == 0, "no network at all"


def _account(m, make_server, monkeypatch, keys, key):
    srv = make_server(task_seconds=0.3, keys=keys)
    monkeypatch.setenv("MESHY_API_BASE_URL", srv.url)
    monkeypatch.setenv("MESHY_API_KEY", key)
    return srv


def test_invalid_key_401_then_fixed_and_sent_again(bad, make_server, monkeypatch):
    srv = _account(bad, make_server, monkeypatch, {"msy-valid-key-0123456789abcdef": 100}, "msy-wrong-key-0123456789")
    job = bad.api.submit_image(str(png_file(bad.tmp, "wrongkey")))
    view = job_failed(bad, job, "key")
    assert "Preferences" in view.error or "key" in view.error
    keep_scene(bad)
    assert srv.stats()["creates"] == 0
    monkeypatch.setenv("MESHY_API_KEY", "msy-valid-key-0123456789abcdef")  # nothing lost: send it again
    bpy.ops.meshy.resubmit("EXEC_DEFAULT", job_id=job.id)
    assert bad.api.wait(bad.api.jobs()[0], timeout=30)
    assert srv.stats()["creates"] == 1


def test_not_enough_credits_402(bad, make_server, monkeypatch):
    srv = _account(bad, make_server, monkeypatch, {"msy-poor-key-0123456789abcdef": 1}, "msy-poor-key-0123456789abcdef")
    job = bad.api.submit_image(str(png_file(bad.tmp, "poor")))
    job_failed(bad, job, "credits")
    keep_scene(bad)
    assert srv.stats()["creates"] == 0


def test_server_unreachable(bad, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MESHY_API_BASE_URL", f"http://127.0.0.1:{port}")
    job = bad.api.submit_image(str(png_file(bad.tmp, "unreachable")))
    view = job_failed(bad, job)
    assert "reach" in view.error.lower() or "connect" in view.error.lower(), view.error
    assert not view.task_id
    keep_scene(bad)


# ----------------------------------------------------------------------------------- image files


def _bad_file(tmp: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp / "nowhere" / "photo.png"
    path = tmp / {"empty": "empty.png", "corrupt": "corrupt.png", "unreadable": "drawing.svg"}[kind]
    data = {
        "empty": b"",
        "corrupt": b"\x89PNG\r\n\x1a\n" + os.urandom(200),
        "unreadable": b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>',
    }[kind]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("kind", "words"), [
    ("missing", ("not found", "check the path")),
    ("empty", ("0 bytes",)),
    ("corrupt", ("corrupt.png", "PNG or JPEG")),
    ("unreadable", ("drawing.svg", "PNG or JPEG")),
])
def test_bad_image_files(bad, kind, words):
    path = _bad_file(bad.tmp, kind)
    text = status_bar_error(lambda: bpy.ops.meshy.image_to_3d(filepath=str(path)), *words)
    assert_panel(bad, *words)
    assert len(text) > 40, "says what to do, not just that it failed"
    with pytest.raises(ValueError):
        bad.api.submit_image(str(path))
    keep_scene(bad)
    assert bad.api.jobs() == [] and bad.server.stats()["requests"] == 0


def test_image_datablock_without_file_or_pixels(bad):
    img = bpy.data.images.load(str(png_file(bad.tmp, "vanishing")))
    os.remove(bpy.path.abspath(img.filepath))
    img.reload()
    bad.before = data_names()
    status_bar_error(lambda: bpy.ops.meshy.image_to_3d(image_name=img.name), "vanishing", "not found")
    keep_scene(bad)


def test_generated_image_without_file_is_sent(bad):
    img = make_image("painted_no_file", 40, 30)
    assert not img.filepath and img.source == "GENERATED"
    assert bpy.ops.meshy.image_to_3d(image_name=img.name) == {"FINISHED"}
    job = bad.api.jobs()[0]
    assert bad.api.wait(job, timeout=30)
    sent = server_task(bad.server, job.view.task_id).images[0][0]
    assert sent[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(sent[16:20], "big") == 40


def test_image_over_the_upload_limit(bad, monkeypatch):
    images, upload = addon_module("blender.images"), addon_module("meshy.upload")
    rng = np.random.default_rng(1)
    img = bpy.data.images.new("noisy", 256, 256, alpha=False)
    img.pixels.foreach_set(np.concatenate([rng.random((256 * 256, 3)), np.ones((256 * 256, 1))], 1)
                           .astype(np.float32).ravel())
    path = save_image(img, bad.tmp / "noisy.png")
    bpy.data.images.remove(img)
    bad.before = data_names()
    monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", 400)  # nothing this noisy fits: a clear refusal
    status_bar_error(lambda: bpy.ops.meshy.image_to_3d(filepath=str(path)), "over Meshy", "smaller")
    assert_panel(bad, "smaller")
    keep_scene(bad)
    monkeypatch.setattr(upload, "MAX_DATA_URI_CHARS", 80_000)  # over the limit as PNG: made to fit, then sent
    prepared = images.prepare_file(str(path), 4096)
    assert upload.data_uri_length(prepared.mime, len(prepared.data)) <= 80_000 and prepared.note
    keep_scene(bad)


def test_16k_image_is_downscaled_not_refused(bad):
    img = make_image("wide16k", 16384, 256)
    bad.before = data_names()
    assert bpy.ops.meshy.image_to_3d(image_name=img.name) == {"FINISHED"}
    job = bad.api.jobs()[0]
    assert bad.api.wait(job, timeout=60)
    sent = server_task(bad.server, job.view.task_id).images[0][0]
    assert int.from_bytes(sent[16:20], "big") == 4096 and int.from_bytes(sent[20:24], "big") == 64


# ----------------------------------------------------------------------------------- reference images


@pytest.mark.parametrize(("count", "words"), [(0, ("Select 1-4",)), (5, ("5", "4")), ("blank", ("no image",))])
def test_reference_images(bad, count, words):
    if count == "blank":
        reference_empty("blank", None)
    else:
        for i in range(count):
            reference_empty(f"ref{i}", make_image(f"view{i}", 16, 16))
    bad.before = data_names()
    status_bar_error(lambda: bpy.ops.meshy.multi_image_to_3d(), *words)
    assert_panel(bad, *words)
    keep_scene(bad)
    assert bad.server.stats()["requests"] == 0


# ----------------------------------------------------------------------------------- options


@pytest.mark.parametrize(("options", "words"), [
    ({"texture_prompt": "x" * 601}, ("texture_prompt", "600")),
    ({"target_polycount": 50, "should_remesh": True}, ("target_polycount", "100")),
    ({"target_polycount": 400000, "should_remesh": True}, ("target_polycount", "300")),
    ({"hd_texture": True, "ai_model": "meshy-5"}, ("hd_texture", "meshy-5")),
    ({"enable_pbr": True, "should_texture": False}, ("enable_pbr", "should_texture")),
])
def test_bad_options(bad, options, words):
    path = png_file(bad.tmp, "opts")
    bad.before = data_names()
    with pytest.raises(ValueError) as err:  # the API raises the client's ValidationError (a ValueError)
        bad.api.submit_image(str(path), **options)
    for word in words:
        assert word.lower() in str(err.value).lower(), str(err.value)
    # From the console the operator gets the same message (its copies of the options are not clamped).
    settable = {k: (("ON" if v else "OFF") if k == "should_remesh" else v) for k, v in options.items()}
    status_bar_error(lambda: bpy.ops.meshy.image_to_3d(filepath=str(path), **settable), words[0])
    assert_panel(bad, words[0])
    keep_scene(bad)
    assert bad.api.jobs() == [] and bad.server.stats()["requests"] == 0


# ----------------------------------------------------------------------------------- the task on Meshy


@pytest.mark.parametrize("failure", ["moderation_blocked", "image_too_complex"])
def test_task_failed_on_meshy_shows_its_message(bad, failure):
    job = bad.api.submit_image(str(png_file(bad.tmp, "failing")), texture_prompt=f"[fail:{failure}]")
    view = job_failed(bad, job, failure, state="failed")
    assert view.error == server_task(bad.server, view.task_id).error("FAILED")["message"]
    keep_scene(bad)


def _slow_job(m, name="slow"):
    m.server.task_seconds = 30.0
    job = m.api.submit_image(str(png_file(m.tmp, name)))
    wait_state(m, job, "pending", "in_progress")
    return job


def test_task_deleted_on_the_server_while_watched(bad):
    bad.server.set_faults(stream_drop_after=1, stream_drops=1000)  # the watch reconnects now and then
    job = _slow_job(bad)
    with bad.server.lock:
        bad.server.tasks[job.view.task_id].deleted = True  # gone from the account (deleted on meshy.ai)
    job_failed(bad, job, "no longer exists")
    keep_scene(bad)


def test_task_canceled_on_the_server_while_watched(bad):
    job = _slow_job(bad)
    bad.server.set_task(job.view.task_id, status="CANCELED")
    job_failed(bad, job, "canceled on Meshy", state="canceled")
    keep_scene(bad)


def test_expired_download_links(bad):
    job = _slow_job(bad)
    bad.server.set_task(job.view.task_id, expires_at=int(time.time() * 1000) - 60_000)
    bad.server.set_task(job.view.task_id, status="SUCCEEDED")
    view = job_failed(bad, job, "expired", "3 days", state="expired")
    assert view.task_id and not view.files.get("model")
    keep_scene(bad)


# ----------------------------------------------------------------------------------- the model file


@pytest.fixture
def downloaded(bad):
    """A finished job whose model file is then replaced, to import it (again) from the job list."""
    job = bad.api.submit_image(str(png_file(bad.tmp, "model")))
    assert bad.api.wait(job, timeout=30)
    bad.before = data_names()
    bad.report.reports.clear()
    return job


@pytest.mark.parametrize(("kind", "words"), [
    ("corrupt", ("could not be imported", "again")),
    ("truncated", ("truncated or corrupt", "again")),
    ("no_mesh", ("no mesh",)),
])
@pytest.mark.parametrize("path", ["converter", "in-process"])
def test_bad_glb_leaves_the_scene_exactly_as_before(bad, downloaded, kind, words, path):
    model = Path(downloaded.view.files["model"])
    good = glb_factory.make_glb()
    data = {"corrupt": good[:20] + b"{" * 8 + good[28:], "truncated": good[:700],
            "no_mesh": glb_factory.make_glb(mesh=False)}[kind]
    model.write_bytes(data)
    for name in ("model.blend", "model.blend.json"):  # so the model is converted (or imported) again
        (model.parent / name).unlink(missing_ok=True)
    if path == "in-process":  # no converter here: the glTF importer runs in this Blender, as before 0.2
        eng = bad.runtime.engine()
        eng.converter_status.set("No converter here.")
        status_bar_error(lambda: bpy.ops.meshy.import_task(job_id=downloaded.id), *words)
        assert_panel(bad, *words)
    else:  # the converter fails on the file: the same message, from the job list and the status bar
        assert bpy.ops.meshy.import_task(job_id=downloaded.id) == {"CANCELLED"}  # converting, not yet landed
        job_failed(bad, downloaded, words[0])
        assert not (model.parent / "model.blend").exists()
    assert any(w in downloaded.view.error for w in words), downloaded.view.error
    keep_scene(bad)


def test_truncated_glb_on_the_wire_is_never_imported(bad):
    bad.server.set_faults(truncate_downloads=3)
    job = bad.api.submit_image(str(png_file(bad.tmp, "cut")))
    assert bad.api.wait(job, timeout=30)
    assert bad.imported_files == [(True, True)]


# ----------------------------------------------------------------------------------- the library folder


def test_library_folder_not_writable(bad):
    blocker = bad.tmp / "a_file"
    blocker.write_bytes(b"not a folder")
    bad.runtime.shutdown()
    bpy.context.preferences.addons[MOD].preferences.library_dir = str(blocker / "library")  # mkdir fails, even as root
    job = bad.api.submit_image(str(png_file(bad.tmp, "nowhere")))
    job_failed(bad, job, "library", "writable")
    keep_scene(bad)
    assert bad.server.stats()["creates"] == 0, "nothing paid for while the inputs could not be kept"


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here to fill a disk: {res.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_then_space_freed(bad, tiny_disk):
    bad.runtime.shutdown()
    bpy.context.preferences.addons[MOD].preferences.library_dir = str(tiny_disk)
    job = bad.api.submit_image(str(png_file(bad.tmp, "full", width=32, height=32)), enable_pbr=True)
    view = job_failed(bad, job, "space")
    assert view.task_id, "the paid task is kept"
    keep_scene(bad)
    subprocess.run(["mount", "-o", "remount,size=20m", str(tiny_disk)], check=True)
    assert bpy.ops.meshy.retry_download(job_id=job.id) == {"FINISHED"}
    assert bad.api.wait(job, timeout=30)
    assert bad.server.stats()["creates"] == 1


# ----------------------------------------------------------------------------------- the user's Blender


def _cube():
    bpy.ops.mesh.primitive_cube_add()
    return bpy.context.active_object


@pytest.mark.parametrize("mode", ["EDIT", "SCULPT"])
def test_user_in_edit_or_sculpt_mode_when_the_import_happens(bad, mode):
    cube = _cube()
    job = bad.api.submit_image(str(png_file(bad.tmp, "moded")))
    bpy.ops.object.mode_set(mode=mode)
    assert cube.mode == mode
    objects = bad.api.wait(job, timeout=30)
    assert objects and cube.mode == "OBJECT" and bpy.context.mode == "OBJECT"
    assert bpy.context.view_layer.objects.active in objects


def test_target_scene_deleted_before_the_import(bad):
    other = bpy.data.scenes.new("Target")
    with bpy.context.temp_override(scene=other):
        job = bad.api.submit_image(str(png_file(bad.tmp, "orphan")))
    assert job.view.target["scene"] == "Target"
    bpy.data.scenes.remove(other)
    objects = bad.api.wait(job, timeout=30)
    assert objects and all(bpy.context.scene.objects.get(o.name) for o in objects)


def test_target_collection_deleted_before_the_import(bad):
    coll = bpy.data.collections.new("Props")
    bpy.context.scene.collection.children.link(coll)
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children["Props"]
    job = bad.api.submit_image(str(png_file(bad.tmp, "homeless")))
    assert job.view.target["collection"] == "Props"
    bpy.data.collections.remove(coll)
    objects = bad.api.wait(job, timeout=30)
    assert objects[0].users_collection[0].name in {c.name for c in bpy.context.scene.collection.children}


def test_blend_closed_while_jobs_run(bad):
    """File > Open of another file, and File > New: jobs wait as ready, never land in the wrong file."""
    handlers = addon_module("blender.handlers")
    mine = bad.tmp / "mine.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(mine))
    saved_job = bad.api.submit_image(str(png_file(bad.tmp, "saved")))
    bpy.ops.wm.read_homefile(use_empty=True)  # an unsaved file's job: File > New
    unsaved_job = bad.api.submit_image(str(png_file(bad.tmp, "unsaved")))
    bpy.ops.wm.open_mainfile(filepath=str(shutil.copy(mine, bad.tmp / "other.blend")))
    handlers.resume()
    for job in (saved_job, unsaved_job):
        wait_state(bad, job, "ready")
    assert not bad.pump.objects_by_job(), "nothing imported into another file"
    bpy.ops.wm.open_mainfile(filepath=str(mine))  # its own file again: imported there, once
    handlers.resume()
    assert saved_job.state == "imported" and len(saved_job.objects) >= 1
    assert unsaved_job.state == "ready", "an unsaved file's job waits for the user's Import"
    assert bpy.ops.meshy.import_task(job_id=unsaved_job.id) == {"FINISHED"}
    assert unsaved_job.state == "imported"
    handlers.resume()
    assert sum(1 for c in bpy.data.collections if c.get("meshy_job_id")) == 2
