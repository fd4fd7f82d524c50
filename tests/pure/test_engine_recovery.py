"""Recovery: a new engine finds every unfinished job in the journal and carries it on, over real HTTP.

Crashes are made three ways: records written with the Journal API in each state, an engine shut
down mid-job, and a real SIGKILL of a plain-python process running an engine.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_support import KEY, EngineKit, client_factory, head, journal_record, png

from meshy_blender.jobs import JobRecord, JobSpec, JobState, Journal, UploadImage
from meshy_blender.jobs import files as F
from meshy_blender.meshy.download import download

ROOT = Path(__file__).resolve().parents[2]


def make_task(server) -> str:
    """A task created on the server directly (what a lost create request leaves behind)."""
    uri = "data:image/png;base64," + base64.b64encode(png()).decode()
    return client_factory(server)().create("image-to-3d", {"image_url": uri})


def write_record(k: EngineKit, job_id: str, state: str, *, inputs: bool = True, **fields) -> JobRecord:
    """A journal record as a crashed process would have left it (with its input file saved)."""
    folder = F.job_folder(k.library_dir, "Crashed", job_id)
    rec = JobRecord(id=job_id, kind="image-to-3d", label="Crashed", folder=str(folder),
                    input_names=["photo.png"], input_files=["input_0.png"], input_mimes=["image/png"],
                    created_at=time.time(), **fields)
    rec.set_state(state)
    if inputs:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "input_0.png").write_bytes(png())
    Journal(k.journal_dir).write(rec)
    return rec


def test_submitting_with_a_task_on_the_server_is_reconciled(kit):
    k = kit()
    submitted_at = int(time.time() * 1000)
    task_id = make_task(k.server)  # the create reached Meshy; the answer never got saved
    write_record(k, "crash1", "submitting", submitted_at=submitted_at)
    eng = k.engine()
    assert eng.recover() == ["crash1"]
    view = k.wait(eng, "crash1", "ready")
    assert view.task_id == task_id
    assert k.server.stats()["creates"] == 1, "reconciled, never submitted again"
    assert journal_record(k, "crash1")["task_id"] == task_id


def test_submitting_without_a_task_becomes_unknown(kit):
    k = kit()
    write_record(k, "crash2", "submitting", submitted_at=int(time.time() * 1000))
    eng = k.engine()
    assert eng.recover() == ["crash2"]
    view = k.wait(eng, "crash2", "unknown")
    assert view.error.startswith("Meshy has no record of this submission")
    assert k.server.stats()["creates"] == 0
    assert not eng.has_active()


def test_reconcile_never_takes_a_task_another_job_owns(kit):
    k = kit()
    submitted_at = int(time.time() * 1000)
    task_id = make_task(k.server)
    write_record(k, "owner", "imported", task_id=task_id)
    write_record(k, "crash3", "submitting", submitted_at=submitted_at)
    eng = k.engine()
    assert eng.recover() == ["crash3"]
    assert k.wait(eng, "crash3", "unknown").task_id is None
    assert eng.get("owner").state == "imported", "finished jobs are listed too"


def test_pending_and_succeeded_records_are_watched_and_downloaded(kit):
    k = kit(task_seconds=0.3)
    write_record(k, "p1", "pending", task_id=make_task(k.server), submitted_at=1)
    write_record(k, "s1", "succeeded", task_id=make_task(k.server), submitted_at=1)
    eng = k.engine()
    assert sorted(eng.recover()) == ["p1", "s1"]
    for job_id in ("p1", "s1"):
        view = k.wait(eng, job_id, "ready")
        assert head(view.files["model"], 4) == b"glTF"
    assert k.server.stats()["creates"] == 2


def test_half_downloaded_part_is_resumed(kit, tmp_path):
    k = kit()
    task_id = make_task(k.server)
    task = client_factory(k.server)().retrieve("image-to-3d", task_id)
    full = download(task.model_urls["glb"], tmp_path / "full.glb").read_bytes()
    rec = write_record(k, "d1", "downloading", task_id=task_id, submitted_at=1)
    part = Path(rec.folder) / "model.glb.part"
    part.write_bytes(full[: len(full) // 2])
    eng = k.engine()
    assert eng.recover() == ["d1"]
    view = k.wait(eng, "d1", "ready")
    assert Path(view.files["model"]).read_bytes() == full
    assert not part.exists()


def test_ready_and_importing_records_emit_ready_without_network(kit):
    k = kit()
    for job_id, state in (("r1", "ready"), ("i1", "importing")):
        rec = write_record(k, job_id, state, task_id=f"t-{job_id}", files={"model": "model.glb"})
        (Path(rec.folder) / "model.glb").write_bytes(b"glTF-stub")
    eng = k.engine()
    assert sorted(eng.recover()) == ["i1", "r1"]
    events = k.drain(eng)
    ready = sorted(e.job_id for e in events if e.ready)
    assert ready == ["i1", "r1"]
    assert all(eng.get(j).state == "ready" for j in ready)
    assert k.server.stats()["requests"] == 0
    eng.mark_importing("r1")
    eng.mark_imported("r1", ["Obj"], "")
    assert journal_record(k, "r1")["state"] == "imported"


def test_preparing_records(kit):
    k = kit()
    write_record(k, "prep_ok", "preparing")
    write_record(k, "prep_lost", "preparing", inputs=False)
    eng = k.engine()
    assert sorted(eng.recover()) == ["prep_lost", "prep_ok"]
    assert k.wait(eng, "prep_ok", "ready").task_id
    lost = k.wait(eng, "prep_lost", "error")
    assert "not saved" in lost.error
    assert k.server.stats()["creates"] == 1


def test_resubmit_that_stopped_while_copying_inputs(kit):
    k = kit()
    old = write_record(k, "old1", "failed")
    rec = write_record(k, "re1", "preparing", inputs=False, copy_from=old.folder, source="resubmit")
    eng = k.engine()
    assert eng.recover() == ["re1"]
    assert k.wait(eng, "re1", "ready").task_id
    assert (Path(rec.folder) / "input_0.png").read_bytes() == png()


def test_corrupt_record_is_moved_aside_and_the_rest_recovers(kit):
    k = kit()
    write_record(k, "good", "pending", task_id=make_task(k.server), submitted_at=1)
    (k.journal_dir / "broken.json").write_bytes(b'{"schema": 1, "id": "broken", "state": "pend')
    (k.journal_dir / "future.json").write_text(json.dumps({"schema": 7, "id": "future", "kind": "x"}))
    eng = k.engine()
    assert eng.recover() == ["good"]
    k.wait(eng, "good", "ready")
    moved = sorted(p.name.split(".")[0] for p in (k.journal_dir / "corrupt").glob("*.json"))
    assert moved == ["broken", "future"]


def test_a_job_is_worked_by_one_engine_only(kit):
    k = kit(task_seconds=30)
    a = k.engine()
    job_id = a.submit(JobSpec("image-to-3d", [UploadImage("p.png", "image/png", png())]))
    k.wait(a, job_id, "pending", "in_progress")
    b = k.engine()
    assert b.recover() == [], "engine A holds the job's lock"
    assert b.get(job_id) is None
    a.shutdown(wait=True)
    k.server.set_task(a.get(job_id).task_id, status="SUCCEEDED")
    assert b.recover() == [job_id]
    view = k.wait(b, job_id, "ready")
    assert view.task_id == a.get(job_id).task_id
    assert k.server.stats()["creates"] == 1


def test_shutdown_mid_job_then_recover(kit):
    k = kit(task_seconds=30)
    a = k.engine()
    job_id = a.submit(JobSpec("image-to-3d", [UploadImage("p.png", "image/png", png())]))
    k.wait(a, job_id, "pending", "in_progress")
    a.shutdown(wait=True)
    assert journal_record(k, job_id)["state"] in ("pending", "in_progress")
    k.server.set_task(a.get(job_id).task_id, status="SUCCEEDED")
    b = k.engine()
    assert b.recover() == [job_id]
    assert k.wait(b, job_id, "ready").state == JobState.READY
    assert k.server.stats()["creates"] == 1


# ------------------------------------------------------------------------------------ SIGKILL

_CHILD = """
import sys, time
sys.path[:0] = [{root!r}]
from pathlib import Path
from meshy_blender.jobs import JobEngine, JobSpec, UploadImage
from meshy_blender.meshy.client import MeshyClient
url, key = {url!r}, {key!r}
eng = JobEngine(Path({journal!r}), Path({library!r}), lambda: MeshyClient(key, url), poll_interval=0.1)
job_id = eng.submit(JobSpec("image-to-3d", [UploadImage("photo.png", "image/png", {image!r})], label="Killed"))
print(job_id, flush=True)
while True:
    for ev in eng.poll_events(timeout=0.2):
        print(ev.view.state, flush=True)
"""


def _run_child(k: EngineKit) -> tuple[subprocess.Popen, str]:
    code = _CHILD.format(root=str(ROOT), url=k.server.url, key=KEY, journal=str(k.journal_dir),
                         library=str(k.library_dir), image=png())
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    job_id = proc.stdout.readline().strip()
    assert job_id, "the child engine did not start"
    return proc, job_id


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert proc.poll() is None, "the child died on its own"
            assert time.monotonic() < deadline, "the child never reached the moment to kill it"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_sigkill_while_generating(kit):
    k = kit(task_seconds=1.5)
    proc, job_id = _run_child(k)
    _kill_when(proc, lambda: (k.journal_dir / f"{job_id}.json").exists()
               and journal_record(k, job_id)["state"] in ("pending", "in_progress"))
    eng = k.engine()
    assert eng.recover() == [job_id]
    view = k.wait(eng, job_id, "ready")
    assert head(view.files["model"], 4) == b"glTF"
    assert k.server.stats()["creates"] == 1


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_sigkill_mid_download_resumes_the_part(kit):
    k = kit()
    k.server.set_faults(download_bps=40_000)  # ~3 s for the model: time to kill it half way

    def part_started() -> bool:
        parts = list(k.library_dir.glob("*/model.glb.part"))
        return bool(parts) and parts[0].stat().st_size >= 16_000

    proc, job_id = _run_child(k)
    _kill_when(proc, part_started)
    part = next(k.library_dir.glob("*/model.glb.part"))
    assert part.stat().st_size < 120_000
    assert journal_record(k, job_id)["state"] == "downloading"
    k.server.set_faults(download_bps=0)
    eng = k.engine()
    assert eng.recover() == [job_id]
    view = k.wait(eng, job_id, "ready")
    model = Path(view.files["model"]).read_bytes()
    assert model[:4] == b"glTF" and int.from_bytes(model[8:12], "little") == len(model)
    assert not part.exists()
    assert k.server.stats()["creates"] == 1
