"""The converter wired into the job engine, in real Blender: a job downloads, converts in a background
Blender ("converting"), and the main thread only appends model.blend.

The appended model equals the in-process import; Import Again appends again without converting; Stop
kills the converter; SIGKILL of this Blender or of the converter alone: the job lands exactly once,
never from a partial model.blend; the converter holds no key; without a converter the job lands
in-process and says so once.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import bl_support
import bpy
from test_convert import model_images, signature
from test_recovery import assert_imported_once, child, journal, proc  # noqa: F401  (fixture)
from workflow_support import TEST_KEY, png_file

BIG = {"target_polycount": 300000, "should_remesh": True}  # a conversion of a few seconds


def converters(folder: str | Path = "") -> list[int]:
    """Pids of running converters (of one job folder, if given): convert_child.py on their command line."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "convert_child.py" in cmd and str(folder) in cmd and stat.split(") ", 1)[1][0] != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def states(m, job) -> list[str]:
    rec = json.loads((m.runtime.user_folder("journal") / f"{job.id}.json").read_text())
    out: list[str] = []
    for state, _ in rec["history"]:
        if not out or out[-1] != state:
            out.append(state)
    return out


def converting_pid(m, job) -> int:
    """Pump until the job's converter runs; its pid."""
    eng = m.runtime.engine()
    found: list[int] = []

    def running():
        m.pump.tick(bpy.context, events=eng.poll_events(timeout=0.02))
        view = eng.get(job.id)
        found[:] = converters(view.folder) if view.state == "converting" else []
        return bool(found)

    wait_for(running, what="the converter to start")
    return found[0]


def test_a_job_lands_appended_equal_to_the_in_process_import(meshy):
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "chair")), enable_pbr=True)
    pid = converting_pid(meshy, job)
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    objects = meshy.api.wait(job, timeout=120)
    assert states(meshy, job)[-5:] == ["downloading", "converting", "ready", "importing", "imported"]
    # the converter's argv, environment and files hold no key (through the engine's real path)
    assert TEST_KEY.encode() not in environ + cmdline and b"MESHY_API_KEY" not in environ
    folder = Path(job.view.folder)
    for path in folder.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path
    images = model_images(objects)
    assert images and all(i.packed_file is not None for i in images), "appended with its images packed"
    assert bpy.context.view_layer.objects.active in objects and all(o.select_get() for o in objects)
    appended = signature(objects)
    # the same files through the in-process importer, in an empty file: the same model
    imp = importlib.import_module(bl_support.MODULE + ".blender.importer")
    bpy.ops.wm.read_homefile(use_empty=True)
    view = job.view
    in_process = imp.import_model(bpy.context, view.files["model"], name=view.label,
                                  texture_files=view.files.get("textures") or {},
                                  tags={"meshy_job_id": view.id, "meshy_task_id": view.task_id})
    tags = importlib.import_module("test_convert").TAGS
    assert set(tags) == {"meshy_job_id", "meshy_task_id"}
    assert appended == signature(in_process)
    assert sum(e["triangles"] for e in appended if "triangles" in e) > 0


def test_import_again_appends_again_without_converting(meshy):
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "again")))
    first = meshy.api.wait(job, timeout=120)
    folder = Path(job.view.folder)
    stamps = {n: (folder / n).stat().st_mtime_ns for n in ("model.blend", "model.blend.json", "convert.log")}
    assert bpy.ops.meshy.import_task(job_id=job.id) == {"FINISHED"}
    tagged = meshy.pump.objects_by_job()[job.id]
    assert len(tagged) == 2 * len(first), "a second copy appended"
    assert {n: (folder / n).stat().st_mtime_ns for n in stamps} == stamps, "not converted again"
    assert not converters(folder)


def test_import_again_is_not_failed_by_another_jobs_report(meshy):
    """A report waiting for the pump (another job's failure) is not this operator's error."""
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "other")))
    meshy.api.wait(job, timeout=120)
    meshy.report.tell("ERROR", "another job failed meanwhile")  # as a worker's finding applied by the pump
    assert bpy.ops.meshy.import_task(job_id=job.id) == {"FINISHED"}
    assert any("another job failed meanwhile" in text for _, text in meshy.report.reports), "left for the pump"
    meshy.report.reports.clear()


def test_stop_kills_the_converter(meshy):
    meshy.server.task_seconds = 0.2
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "stop")), **BIG)
    pid = converting_pid(meshy, job)
    assert bpy.ops.meshy.cancel_task(job_id=job.id) == {"FINISHED"}
    wait_for(lambda: not converters(job.view.folder), timeout=10, what="the converter to be killed")
    assert job.state == "canceled"
    assert not (Path(job.view.folder) / "model.blend").exists()
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10, what="the converter to be reaped")


def test_sigkill_of_the_converter_alone_lands_once(meshy):
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "oom")), **BIG)
    pid = converting_pid(meshy, job)
    os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer does
    objects = meshy.api.wait(job, timeout=180)
    assert objects and job.state == "imported"
    assert len(meshy.pump.objects_by_job()[job.id]) == len(objects)
    assert sum(1 for c in bpy.data.collections if c.get("meshy_job_id") == job.id) == 1


def test_sigkill_of_blender_while_converting_lands_once(proc):  # noqa: F811
    first = child(proc, "--image", proc.photo, "--options", json.dumps(BIG), "--kill-at", "converting",
                  "--kill-delay", "0.5", expect_kill=True)
    job_id = first["job_id"]
    rec = journal(proc, job_id)
    assert rec["state"] == "converting"
    wait_for(lambda: not converters(rec["folder"]), timeout=10, what="the orphaned converter to end")
    assert not (Path(rec["folder"]) / "model.blend").exists(), "a killed conversion leaves no model.blend"
    summary = child(proc)  # the next start: converting again, then appended
    assert_imported_once(proc, summary, job_id)


def test_without_a_converter_the_job_lands_in_process_and_says_so_once(meshy, monkeypatch):
    conv = importlib.import_module(bl_support.MODULE + ".jobs.converter")
    monkeypatch.setattr(meshy.runtime, "ENGINE_TUNING", {"converter": conv.Launcher(blender="/nonexistent/blender")})
    monkeypatch.setitem(meshy.pump._fallback_told, "done", False)
    meshy.runtime.shutdown()
    jobs = [meshy.api.submit_image(str(png_file(meshy.tmp, f"plain{i}"))) for i in range(2)]
    for job in jobs:
        assert meshy.api.wait(job, timeout=60)
        assert not (Path(job.view.folder) / "model.blend").exists()
    told = [t for _, t in meshy.report.reports if "/nonexistent/blender" in t]
    assert len(told) == 1 and "imported inside this Blender" in told[0], meshy.report.reports


def test_link_models_preference_links_one_instancing_empty(meshy):
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    prefs.link_models = True
    try:
        job = meshy.api.submit_image(str(png_file(meshy.tmp, "linked")))
        objects = meshy.api.wait(job, timeout=120)
    finally:
        prefs.link_models = False
    [empty] = [o for o in objects if o.library is None]  # the rest: the linked model's own objects
    assert all(o.library is not None for o in objects if o is not empty)
    assert empty.instance_type == "COLLECTION" and empty.instance_collection.library is not None
    assert empty["meshy_job_id"] == job.id and bpy.context.view_layer.objects.active == empty


def test_concurrent_conversions_preference_applies_at_once(meshy):
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    eng = meshy.runtime.engine()
    assert prefs.max_conversions == 2 and eng.max_conversions == 2
    prefs.max_conversions = 1
    try:
        assert eng.max_conversions == 1
    finally:
        prefs.max_conversions = 2
    assert eng.max_conversions == 2
    assert sys.executable in meshy.runtime.converter_launcher().command("{}")  # the bpy module: this Python


def test_the_panel_shows_a_converting_job_with_its_bar_and_stop(addon):
    ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    states = importlib.import_module(bl_support.MODULE + ".jobs.states")
    assert {s.value for s in states.ACTIVE} - {"ready"} == ui.ACTIVE_STATES
    assert "converting" in ui.ACTIVE_STATES
