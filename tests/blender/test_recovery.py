"""Never lose a paid task, in real Blender: a Blender process is SIGKILLed (or closed) at each phase.

Each Blender here is a fresh `bpy` process (child_job.py) sharing one user folder (the add-on's
journal) and one .blend; the local Meshy server runs in this test process and counts creates.
A new process recovers through the add-on's own startup path; every task must end imported exactly
once, into its own .blend, and be created exactly once on the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import bl_support
import bpy
import pytest
from workflow_support import TEST_KEY, png_file

pytestmark = [pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX"), pytest.mark.heavy]

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child_job.py"
BIG = {"target_polycount": 300000, "should_remesh": True}  # a slow import, to be killed in the middle


@pytest.fixture
def proc(addon, make_server, tmp_path):
    """A local server, a user folder and a .blend shared by the Blender processes of one test."""
    srv = make_server(task_seconds=1.5, keepalive_seconds=0.5)
    ns = types.SimpleNamespace(server=srv, tmp=tmp_path, user=tmp_path / "user", library=tmp_path / "library",
                               blend=tmp_path / "scene.blend", zip=str(bl_support.zip_path()))
    ns.photo = png_file(tmp_path, "chair")
    ns.env = {**os.environ, "MESHY_API_KEY": TEST_KEY, "MESHY_API_BASE_URL": srv.url}
    ns.env.pop("BLENDER_USER_RESOURCES", None)
    return ns


def child(p, *args, blend=None, expect_kill=False, timeout=120) -> dict:
    """Run one Blender process; its last output line is a JSON summary (or it was SIGKILLed)."""
    cmd = [sys.executable, str(CHILD), "--user", p.user, "--zip", p.zip, "--library", p.library,
           "--blend", blend or p.blend, *args]
    res = subprocess.run(list(map(str, cmd)), env=p.env, capture_output=True, text=True, timeout=timeout)
    out = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    if expect_kill:
        assert res.returncode == -signal.SIGKILL, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
        return out[0] if out else {}
    assert res.returncode == 0, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert TEST_KEY not in res.stdout + res.stderr
    return out[-1]


def submit_and_kill(p, phase, *, options=None, delay=0.0, extra=()) -> str:
    first = child(p, "--image", p.photo, "--options", json.dumps(options or {}), "--kill-at", phase,
                  "--kill-delay", str(delay), *extra, expect_kill=True)
    assert first.get("job_id"), "the child never submitted"
    return first["job_id"]


def journal(p, job_id) -> dict:
    path = p.user / "extensions" / ".user" / "user_default" / "meshy_blender" / "journal" / f"{job_id}.json"
    return json.loads(path.read_text())


def in_blend(path: Path) -> dict:
    """What a freshly opened .blend holds: tagged objects and collections per job id."""
    code = (
        "import bpy, json, sys\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(path)!r})\n"
        "o, c = {}, {}\n"
        "for ob in bpy.data.objects:\n"
        "    j = ob.get('meshy_job_id')\n"
        "    if j: o[j] = o.get(j, 0) + 1\n"
        "for co in bpy.data.collections:\n"
        "    j = co.get('meshy_job_id')\n"
        "    if j: c[j] = c.get(j, 0) + 1\n"
        "print(json.dumps({'objects': o, 'collections': c}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "BLENDER_USER_RESOURCES"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def job_of(summary: dict, job_id: str) -> dict:
    return next(j for j in summary["jobs"] if j["id"] == job_id)


def assert_imported_once(p, summary: dict, job_id: str, blend: Path | None = None) -> None:
    blend = blend or p.blend
    job = job_of(summary, job_id)
    assert job["state"] == "imported", job
    assert Path(job["blend_file"]) == blend
    saved = in_blend(blend)
    assert saved["collections"] == {job_id: 1}, f"imported {saved['collections'].get(job_id, 0)} times"
    assert saved["objects"][job_id] == len(job["objects"]) >= 1
    assert p.server.stats()["creates"] == 1, "the task was created more than once"
    assert job["task_id"] in p.server.tasks


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ------------------------------------------------------------------------------------ kills


def test_sigkill_while_the_create_is_on_the_wire(proc):
    """Killed between sending the create and saving the task id: reconciled, never sent again."""
    proc.server.set_faults(slow_ms=1500)  # the server holds the request: the answer comes too late
    job_id = submit_and_kill(proc, "after_submit", delay=0.4)
    assert journal(proc, job_id)["state"] == "submitting" and not journal(proc, job_id)["task_id"]
    proc.server.set_faults(slow_ms=0)
    wait_for(lambda: proc.server.stats()["creates"] == 1)  # the held request made the task meanwhile
    summary = child(proc)
    assert_imported_once(proc, summary, job_id)


def test_sigkill_while_generating(proc):
    proc.server.task_seconds = 3.0
    job_id = submit_and_kill(proc, "generating")
    assert journal(proc, job_id)["state"] in ("pending", "in_progress") and journal(proc, job_id)["task_id"]
    summary = child(proc)
    assert_imported_once(proc, summary, job_id)


def test_sigkill_mid_download_resumes(proc):
    proc.server.task_seconds = 0.2
    proc.server.set_faults(download_bps=40_000)
    job_id = submit_and_kill(proc, "downloading")
    rec = journal(proc, job_id)
    assert rec["state"] == "downloading"
    part = Path(rec["folder"]) / "model.glb.part"
    assert part.is_file() and part.stat().st_size >= 16_000, "killed with part of the model on disk"
    proc.server.set_faults(download_bps=0)
    summary = child(proc)
    assert_imported_once(proc, summary, job_id)
    assert not part.exists()
    model = Path(job_of(summary, job_id)["files"]["model"]).read_bytes()
    assert model[:4] == b"glTF" and int.from_bytes(model[8:12], "little") == len(model)


def test_sigkill_mid_import(proc):
    proc.server.task_seconds = 0.2
    job_id = submit_and_kill(proc, "importing", options=BIG, delay=0.05, extra=["--in-process"])  # seconds long
    assert journal(proc, job_id)["state"] == "importing"
    assert in_blend(proc.blend)["objects"] == {}, "nothing of the killed import is in the saved file"
    summary = child(proc)
    assert_imported_once(proc, summary, job_id)


def test_crash_after_import_before_save_imports_again_once(proc):
    proc.server.task_seconds = 0.2
    job_id = submit_and_kill(proc, "after_import")
    assert journal(proc, job_id)["state"] == "imported"
    assert in_blend(proc.blend)["objects"] == {}, "the user never got it: the file was not saved"
    summary = child(proc)  # opens the .blend: the import is made again
    assert_imported_once(proc, summary, job_id)
    again = child(proc)  # a later start finds the model in the saved file: not imported a third time
    assert again["tagged"] == {job_id: len(job_of(summary, job_id)["objects"])}
    assert in_blend(proc.blend)["collections"] == {job_id: 1}


def test_script_waits_after_crash_before_save_and_gets_the_model(proc):
    """Issue 10, defect 2: a headless script opens the file and waits; no startup timer runs there."""
    proc.server.task_seconds = 0.2
    job_id = submit_and_kill(proc, "after_import")
    assert journal(proc, job_id)["state"] == "imported"
    summary = child(proc, "--resume", "none", "--wait", job_id)
    assert summary["waited"].get("objects"), f"wait() gave no model: {summary['waited']}"
    assert summary["tagged"] == {job_id: len(summary["waited"]["objects"])}
    assert_imported_once(proc, summary, job_id)


def test_api_resume_after_crash_before_save_imports_once(proc):
    proc.server.task_seconds = 0.2
    job_id = submit_and_kill(proc, "after_import")
    summary = child(proc, "--resume", "api")
    assert summary["resumed"] == [job_id]
    assert_imported_once(proc, summary, job_id)
    again = child(proc, "--resume", "api")  # the saved file has the model now: nothing to do
    assert again["resumed"] == [] and again["tagged"] == {job_id: len(job_of(summary, job_id)["objects"])}


def test_wait_in_another_file_names_the_file_of_the_import(proc):
    proc.server.task_seconds = 0.2
    job_id = submit_and_kill(proc, "after_import")
    other = proc.tmp / "other.blend"
    summary = child(proc, "--resume", "none", "--wait", job_id, blend=other)
    error = summary["waited"].get("error", "")
    assert str(proc.blend) in error and "import_task" in error, summary["waited"]
    assert summary["tagged"] == {}, "nothing imported into the other file by itself"
    assert in_blend(proc.blend)["objects"] == {}


def test_closed_normally_while_generating_carries_on(proc):
    proc.server.task_seconds = 3.0
    closed = child(proc, "--image", proc.photo, "--close-at", "generating")
    assert closed["closed"]
    job_id = closed["jobs"][0]["id"]
    assert journal(proc, job_id)["state"] in ("pending", "in_progress")
    summary = child(proc)
    assert_imported_once(proc, summary, job_id)


def test_job_of_a_file_not_open_waits_as_ready_then_imports_into_its_file(proc):
    proc.server.task_seconds = 2.0
    job_id = submit_and_kill(proc, "generating")
    other = proc.tmp / "other.blend"
    summary = child(proc, "--until", "ready", "--open-after", proc.blend, blend=other)
    first = summary["first"]
    assert first["file"] == str(other) and job_of(first, job_id)["state"] == "ready"
    assert first["tagged"] == {}, "never imported into another file"
    assert summary["file"] == str(proc.blend)
    assert_imported_once(proc, summary, job_id)
    assert in_blend(other)["objects"] == {}


# ------------------------------------------------------------------------------------ in-process


@pytest.fixture
def saved_import(meshy):
    """A job imported into a saved .blend (saved before the import, as a user's file would be)."""
    blend = meshy.tmp / "mine.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "kept")))
    assert meshy.api.wait(job, timeout=60)
    handlers = __import__(f"{bl_support.MODULE}.blender.handlers", fromlist=["x"])
    return types.SimpleNamespace(blend=blend, job=job, handlers=handlers, **vars(meshy))


def _tagged(job_id) -> int:
    return sum(1 for c in bpy.data.collections if c.get("meshy_job_id") == job_id)


def test_removed_and_saved_is_not_imported_again(saved_import):
    s = saved_import
    for obj in list(s.job.objects):
        bpy.data.objects.remove(obj)
    for coll in [c for c in bpy.data.collections if c.get("meshy_job_id")]:
        bpy.data.collections.remove(coll)
    bpy.ops.wm.save_mainfile()
    s.pump.imported_here.clear()  # as if the next start were another Blender process
    bpy.ops.wm.open_mainfile(filepath=str(s.blend))
    s.handlers.resume()
    assert _tagged(s.job.id) == 0 and s.job.state == "imported"


def test_revert_in_the_same_session_is_not_imported_again(saved_import):
    s = saved_import
    bpy.ops.wm.open_mainfile(filepath=str(s.blend))  # File > Revert: the user threw the import away
    s.handlers.resume()
    assert _tagged(s.job.id) == 0
    s.pump.imported_here.clear()  # a new process after a crash: the user never got it
    bpy.ops.wm.open_mainfile(filepath=str(s.blend))
    s.handlers.resume()
    assert _tagged(s.job.id) == 1 and s.job.state == "imported"
    s.handlers.resume()
    assert _tagged(s.job.id) == 1



def test_wait_for_a_removed_import_raises_naming_the_file(saved_import):
    s = saved_import
    for obj in list(s.job.objects):
        bpy.data.objects.remove(obj)
    with pytest.raises(s.api.JobFailed) as err:
        s.api.wait(s.job, timeout=10)
    assert str(s.blend) in str(err.value) and "import_task" in str(err.value)
    assert s.job.state == "imported"
