"""Follow-up jobs (Remesh, Retexture, Rigging, Animation) through the job engine, over real HTTP to the local
server: what the create carries, what is downloaded, the lineage in the record, the checks before paying,
and a lost create (a crash, a SIGKILL) found again through each kind's list endpoint, never paid twice."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_support import KEY, EngineKit, client_factory, head, journal_record, png

from meshy_blender.jobs import JobRecord, JobSpec, Journal, followup
from meshy_blender.jobs import files as F
from meshy_blender.meshy.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SOURCE = {"source_job_id": "src-job", "source_kind": "image-to-3d", "source_state": "imported"}


def image_task(server) -> str:
    """A finished Image to 3D task: the source of the follow-ups."""
    uri = "data:image/png;base64," + base64.b64encode(png(40, 80)).decode()
    task_id = client_factory(server)().create("image-to-3d", {"image_url": uri})
    finished(server, "image-to-3d", task_id)
    return task_id


def finished(server, kind: str, task_id: str):
    client = client_factory(server)()
    return client.watch(kind, task_id, poll_interval=0.05)


def sent(server, task_id: str) -> dict:
    with server.lock:
        return dict(server.tasks[task_id].derived["request"])


def rig_task(server) -> str:
    src = image_task(server)
    rig = client_factory(server)().create("rigging", {"input_task_id": src})
    finished(server, "rigging", rig)
    return rig


def test_remesh_job_sends_the_source_and_only_the_options_set(kit):
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    eng = k.engine()
    job_id = eng.submit(JobSpec("remesh", input_task_id=src, options={"target_polycount": 2000},
                                label="chair remesh 2k", lineage=SOURCE))
    view = k.wait(eng, job_id, "ready")
    assert sent(k.server, view.task_id) == {"input_task_id": src, "target_polycount": 2000}
    assert head(view.files["model"], 4) == b"glTF"
    assert 1900 <= followup.glb_file_faces(view.files["model"]) <= 2100
    assert followup.face_count(view.folder, view.files) == followup.glb_file_faces(view.files["model"]), \
        "a view's absolute model path (no model.blend.json: nothing converted)"
    rec = journal_record(k, job_id)
    assert rec["lineage"] == {"source_job_id": "src-job", "source_kind": "image-to-3d", "operation": "remesh",
                              "source_task_id": src, "options": {"target_polycount": 2000}}
    assert rec["credits"] == 5 and rec["kind"] == "remesh"
    assert view.lineage["source_task_id"] == src


def test_retexture_job_saves_its_style_image_and_sends_it_as_a_data_uri(kit):
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    style = png(8, 8, (20, 200, 40, 255))
    uri = "data:image/png;base64," + base64.b64encode(style).decode()
    eng = k.engine()
    job_id = eng.submit(JobSpec("retexture", input_task_id=src, options={"image_style_url": uri,
                                                                          "enable_pbr": True}))
    view = k.wait(eng, job_id, "ready")
    rec = journal_record(k, job_id)
    assert "image_style_url" not in rec["options"], "no image bytes in the journal"
    saved = Path(rec["folder"]) / rec["option_files"]["image_style_url"]
    assert saved.read_bytes() == style
    assert sent(k.server, view.task_id) == {"input_task_id": src, "image_style_url": uri, "enable_pbr": True}
    assert set(view.files["textures"]) >= {"base_color", "metallic", "roughness", "normal"}
    assert rec["credits"] == 10


def test_rigging_job_downloads_the_character_and_its_two_clips(kit):
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    eng = k.engine()
    job_id = eng.submit(JobSpec("rigging", input_task_id=src, options={"height_meters": 1.8}, lineage=SOURCE))
    view = k.wait(eng, job_id, "ready")
    assert sent(k.server, view.task_id) == {"input_task_id": src, "height_meters": 1.8}
    assert head(view.files["model"], 4) == b"glTF"
    clips = view.files["clips"]
    assert set(clips) == {"Walking", "Running"}
    for path in clips.values():
        assert head(path, 4) == b"glTF"
    assert journal_record(k, job_id)["files"]["clips"] == {"Walking": "clip_walking.glb",
                                                           "Running": "clip_running.glb"}


def test_animation_job_sends_rig_task_id_and_action(kit):
    k = kit(task_seconds=0.2)
    rig = rig_task(k.server)
    eng = k.engine()
    job_id = eng.submit(JobSpec("animations", input_task_id=rig, options={"action_id": 0},
                                lineage={"source_kind": "rigging", "source_state": "imported"}))
    view = k.wait(eng, job_id, "ready")
    assert sent(k.server, view.task_id) == {"rig_task_id": rig, "action_id": 0}
    assert head(view.files["model"], 4) == b"glTF"
    assert journal_record(k, job_id)["credits"] == 3


@pytest.mark.parametrize("kind, options, lineage, field, words", [
    ("retexture", {}, SOURCE, "text_style_prompt", "needs a style"),
    ("rigging", {}, {**SOURCE, "face_count": 300_001}, "input_task_id", "remesh it first"),
    ("animations", {"action_id": 0}, SOURCE, "rig_task_id", "rig the model first"),
    ("retexture", {"text_style_prompt": "wood"}, {**SOURCE, "source_kind": "retexture"}, "input_task_id",
     "cannot start from a Retexture task"),
    ("remesh", {"input_task_id": "abc"}, SOURCE, "input_task_id", "pass the source instead"),
    ("remesh", {"target_polycount": 50}, SOURCE, "target_polycount", ""),
    ("rigging", {"height_meters": -1}, SOURCE, "height_meters", "positive"),
    ("remesh", {}, {**SOURCE, "source_state": "in_progress"}, "input_task_id", "not finished"),
])
def test_bad_follow_ups_are_refused_before_anything_is_written(kit, kind, options, lineage, field, words):
    k = kit()
    eng = k.engine()
    with pytest.raises(ValidationError) as info:
        eng.submit(JobSpec(kind, input_task_id="0190abcd", options=options, lineage=lineage))
    assert info.value.field == field and words in info.value.user_message
    assert not list(k.journal_dir.glob("*.json")), "nothing journalled"
    assert k.server.stats()["creates"] == 0


def test_a_follow_up_needs_a_source(kit):
    eng = kit().engine()
    with pytest.raises(ValidationError, match="needs a source"):
        eng.submit(JobSpec("remesh", options={"target_polycount": 2000}))


def test_meshys_own_rejection_ends_the_job_with_its_message(kit):
    k = kit(task_seconds=0.2)
    eng = k.engine()
    job_id = eng.submit(JobSpec("remesh", input_task_id="0190000000000000deadbeef", options={}))
    view = k.wait(eng, job_id, "error")
    assert view.error and view.task_id is None
    assert k.server.stats()["creates"] == 0


# ------------------------------------------------------------------------------ lost creates


def crashed_record(k: EngineKit, job_id: str, kind: str, source: str, **fields) -> None:
    folder = F.job_folder(k.library_dir, "Crashed", job_id)
    rec = JobRecord(id=job_id, kind=kind, label="Crashed", folder=str(folder), input_task_id=source,
                    created_at=time.time(), lineage={"operation": followup.OPERATIONS[kind]}, **fields)
    rec.set_state("submitting")
    Journal(k.journal_dir).write(rec)


@pytest.mark.parametrize("kind", ["remesh", "rigging", "animations"])
def test_a_follow_up_whose_create_answer_was_lost_is_found_in_its_kinds_list(kit, kind):
    """Rigging's tasks say type "rig", Animation's "animate": the list is matched on those, not on the kind."""
    k = kit(task_seconds=0.2)
    source = rig_task(k.server) if kind == "animations" else image_task(k.server)
    before = k.server.stats()["creates"]
    submitted_at = int(time.time() * 1000)
    body = {"rig_task_id": source, "action_id": 0} if kind == "animations" else {"input_task_id": source}
    task_id = client_factory(k.server)().create(kind, body)  # reached Meshy; the answer was never saved
    crashed_record(k, "lost1", kind, source, submitted_at=submitted_at)
    eng = k.engine()
    assert eng.recover() == ["lost1"]
    view = k.wait(eng, "lost1", "ready")
    assert view.task_id == task_id
    assert k.server.stats()["creates"] == before + 1, "found, never sent again"


_CHILD = """
import sys
sys.path[:0] = [{root!r}]
from pathlib import Path
from meshy_blender.jobs import JobEngine, JobSpec
from meshy_blender.meshy.client import MeshyClient
url, key = {url!r}, {key!r}
eng = JobEngine(Path({journal!r}), Path({library!r}), lambda: MeshyClient(key, url), poll_interval=0.1)
job_id = eng.submit(JobSpec("rigging", input_task_id={source!r}, label="Killed rig"))
print(job_id, flush=True)
while True:
    for ev in eng.poll_events(timeout=0.2):
        print(ev.view.state, flush=True)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_sigkill_during_a_follow_up_job_resumes_and_creates_once(kit):
    k = kit(task_seconds=1.5)
    src = image_task(k.server)
    before = k.server.stats()["creates"]
    code = _CHILD.format(root=str(ROOT), url=k.server.url, key=KEY, journal=str(k.journal_dir),
                         library=str(k.library_dir), source=src)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        job_id = proc.stdout.readline().strip()
        deadline = time.monotonic() + 20
        while not ((k.journal_dir / f"{job_id}.json").exists()
                   and journal_record(k, job_id)["state"] in ("pending", "in_progress")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    eng = k.engine()
    assert eng.recover() == [job_id]
    view = k.wait(eng, job_id, "ready")
    assert set(view.files["clips"]) == {"Walking", "Running"}
    assert k.server.stats()["creates"] == before + 1


def test_a_style_image_given_as_an_upload_is_encoded_on_a_worker_and_sent(kit):
    from meshy_blender.jobs import UploadImage

    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    style = png(6, 6, (250, 10, 10, 255))
    calls = []

    def encode() -> bytes:
        calls.append(1)
        return style

    eng = k.engine()
    job_id = eng.submit(JobSpec("retexture", [UploadImage("red.png", "image/png", encode=encode)],
                                input_task_id=src))
    view = k.wait(eng, job_id, "ready")
    assert calls == [1]
    assert sent(k.server, view.task_id) == {"input_task_id": src,
                                            "image_style_url": "data:image/png;base64,"
                                            + base64.b64encode(style).decode()}


def test_rigging_takes_a_png_texture_only(kit):
    from meshy_blender.jobs import UploadImage

    eng = kit().engine()
    with pytest.raises(ValidationError, match="PNG") as info:
        eng.submit(JobSpec("rigging", [UploadImage("t.jpg", "image/jpeg", b"\xff\xd8\xff")], input_task_id="abc"))
    assert info.value.field == "texture_image_url"
    with pytest.raises(ValidationError, match="takes no image"):
        eng.submit(JobSpec("remesh", [UploadImage("t.png", "image/png", png())], input_task_id="abc"))


# ------------------------------------------------------------------------------------ Stop / Delete / Retry


def test_stop_and_delete_a_follow_up_job(kit):
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    k.server.task_seconds = 30  # the follow-ups below stay running
    eng = k.engine()
    stopped = eng.submit(JobSpec("remesh", input_task_id=src, options={"target_polycount": 1000}))
    deleted = eng.submit(JobSpec("rigging", input_task_id=src))
    for job_id in (stopped, deleted):
        k.wait(eng, job_id, "pending", "in_progress")
    eng.cancel(stopped)
    assert k.wait(eng, stopped, "canceled").task_id
    eng.delete_remote(deleted)
    view = k.wait(eng, deleted, "canceled")
    with k.server.lock:
        assert k.server.tasks[view.task_id].deleted, "DELETE /openapi/v1/rigging/{id} reached the server"
        assert not k.server.tasks[eng.get(stopped).task_id].deleted, "Stop deletes nothing"


def test_a_failed_follow_up_is_submitted_again_with_its_source_and_lineage(kit):
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    eng = k.engine()
    first = eng.submit(JobSpec("retexture", input_task_id=src, options={"text_style_prompt": "[fail:server_error]"},
                               lineage=SOURCE))
    assert k.wait(eng, first, "failed").error
    again = eng.resubmit(first)
    view = k.wait(eng, again, "failed")
    assert sent(k.server, view.task_id) == {"input_task_id": src, "text_style_prompt": "[fail:server_error]"}
    assert journal_record(k, again)["lineage"] == journal_record(k, first)["lineage"]


def test_a_bare_task_id_is_looked_up_and_refused_before_paying(kit):
    """No job of ours behind it: the worker asks Meshy what the task is before the create."""
    k = kit(task_seconds=0.2)
    src = image_task(k.server)
    rig = rig_task(k.server)
    creates = k.server.stats()["creates"]
    eng = k.engine()
    wrong = eng.submit(JobSpec("animations", input_task_id=src, options={"action_id": 0}))
    view = k.wait(eng, wrong, "error")
    assert "Animation cannot start from an Image to 3D task" in view.error and view.task_id is None
    remesh_a_rig = eng.submit(JobSpec("remesh", input_task_id=rig, options={"target_polycount": 2000}))
    assert "Remesh cannot start from a rigging task" in k.wait(eng, remesh_a_rig, "error").error
    assert k.server.stats()["creates"] == creates, "nothing created or paid"
    right = eng.submit(JobSpec("remesh", input_task_id=src, options={"target_polycount": 2000}))
    assert k.wait(eng, right, "ready").task_id, "a task of a kind it takes goes ahead"
    unknown = eng.submit(JobSpec("remesh", input_task_id="0190abcd-0000-7000-8000-000000000000",
                                 options={"target_polycount": 2000}))
    assert k.wait(eng, unknown, "error").task_id is None, "found nowhere: Meshy's own answer (404) is shown"
