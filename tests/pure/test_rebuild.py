"""Rebuilding the model library (jobs/rebuild.py): which folders of a version 0.1 library are converted,
and the engine's run of them on its conversion threads (real child processes: the stand-in converter),
bounded, stepping aside for a new job's conversion, never touching the network or a job's record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from test_engine import spec
from test_engine_convert import LAUNCHER, control, runs, wait_for
from test_engine_support import EngineKit, journal_record

from meshy_blender.jobs import converter, rebuild
from meshy_blender.jobs import files as F
from meshy_blender.jobs.journal import JobRecord, Journal

GLB = b"glTF\x02\x00\x00\x00" + b"\0" * 64


def v01_folder(library: Path, name: str, *, textures=("base_color",), thumbnail=True, inputs=1) -> Path:
    """A job folder exactly as version 0.1 wrote it: model.glb, thumbnail, maps, inputs; no model.blend."""
    folder = library / name
    (folder / "textures").mkdir(parents=True)
    (folder / F.MODEL).write_bytes(GLB)
    if thumbnail:
        (folder / F.THUMBNAIL).write_bytes(b"\x89PNG")
    for m in textures:
        (folder / F.texture_file_name(m)).write_bytes(b"\x89PNG")
    for i in range(inputs):
        (folder / f"input_{i}.png").write_bytes(b"\x89PNG")
    return folder


def v01_record(journal_dir: Path, folder: Path, job_id: str, state: str = "imported", **fields) -> JobRecord:
    rec = JobRecord(id=job_id, kind="image-to-3d", label=fields.pop("label", "Chair"), folder=str(folder),
                    task_id=f"task-{job_id}", files={"model": F.MODEL, "thumbnail": F.THUMBNAIL,
                                                     "textures": {"base_color": "textures/base_color.png"}},
                    created_at=time.time(), **fields)
    rec.set_state(state)
    Journal(journal_dir).write(rec)
    return rec


def fake_blend(folder: Path) -> None:
    data = b"BLENDER-v300" + b"\0" * 10
    (folder / F.BLEND).write_bytes(data)
    (folder / F.BLEND_RESULT).write_text(json.dumps({"blend_bytes": len(data), "collection": "X"}))


# ------------------------------------------------------------------------------------ the plan


def test_the_plan_takes_finished_records_and_folders_no_record_names(tmp_path):
    library = tmp_path / "library"
    a = v01_folder(library, "chair-1a2b3c4d")
    b = v01_folder(library, "lamp_photo-0f0f0f0f", textures=(), thumbnail=False, inputs=2)
    busy = v01_folder(library, "busy-22222222")
    done = v01_folder(library, "done-33333333")
    fake_blend(done)
    (library / "no_model").mkdir()
    records = [v01_record(tmp_path / "j", a, "job1"), v01_record(tmp_path / "j", busy, "job2", state="converting")]
    items, failures, already = rebuild.plan(library, records, automatic=True)
    assert [Path(i.folder).name for i in items] == ["chair-1a2b3c4d", "lamp_photo-0f0f0f0f"]
    assert failures == [] and already == 1
    by_record, orphan = items
    assert by_record.job_id == "job1" and by_record.request.tags["meshy_task_id"] == "task-job1"
    assert by_record.request.texture_files == {"base_color": str(a / "textures" / "base_color.png")}
    assert orphan.job_id == "" and orphan.label == "lamp_photo" and orphan.request.label == "lamp_photo"
    assert orphan.request.glb == str(b / F.MODEL) and orphan.request.texture_files == {}


def test_a_folder_a_converter_failed_on_is_left_out_of_an_automatic_run_only(tmp_path):
    library = tmp_path / "library"
    bad = v01_folder(library, "bad-44444444")
    (bad / F.CONVERT_LOG).write_text(f"Blender 4.2\n{converter.ERROR_MARKER}The file is not a glTF model.\n")
    killed = v01_folder(library, "killed-55555555")
    (killed / F.CONVERT_LOG).write_text("Blender 4.2\nimporting...\n")  # SIGKILLed mid-way: no verdict
    items, failures, _ = rebuild.plan(library, [], automatic=True)
    assert [Path(i.folder).name for i in items] == ["killed-55555555"]
    assert failures == [rebuild.Failure(str(bad), "bad", "The file is not a glTF model.")]
    items, failures, _ = rebuild.plan(library, [], automatic=False)
    assert len(items) == 2 and failures == []


def test_folder_labels_drop_the_id_suffix_only():
    assert rebuild.label_of_folder("Café 椅子-1a2b3c4d") == "Café 椅子"
    assert rebuild.label_of_folder("chair-photo") == "chair-photo"
    assert rebuild.label_of_folder("-1a2b3c4d") == "-1a2b3c4d"


def test_a_run_is_done_when_every_folder_is_converted_or_failed():
    run = rebuild.Rebuild()
    req = converter.ConvertRequest(folder="/x", label="x")
    items = [rebuild.Item(f"/lib/{n}", n, req) for n in "abc"]
    assert not run.done and not run.progress().planned
    run.ensure_planned(lambda: (items, [], 4))
    a, b = run.take(), run.take()
    assert run.converting("/lib/a") and run.progress().running == ("a", "b")
    run.finish(a, None)
    run.put_back(b)  # stopped before it converted: first again
    assert run.take() is b
    run.finish(b, "corrupt")
    assert not run.done
    c = run.take()
    assert run.take() is None
    run.finish(c, None)
    p = run.progress()
    assert run.done and run.wait(0) and (p.total, p.converted, p.already, p.fraction) == (3, 2, 4, 1.0)
    assert p.failed == (rebuild.Failure("/lib/b", "b", "corrupt"),)


# ------------------------------------------------------------------------------------ the engine's run


def test_the_engine_converts_a_v01_library_without_the_network_or_the_records(kit):
    k: EngineKit = kit()
    a = v01_folder(k.library_dir, "chair-1a2b3c4d")
    b = v01_folder(k.library_dir, "lamp-0f0f0f0f")
    bad = v01_folder(k.library_dir, "bad-44444444")
    (bad / "stand_in.json").write_text(json.dumps({"fail": "The file is not a glTF model."}))
    rec = v01_record(k.journal_dir, a, "job1")
    before = journal_record(k, "job1")
    eng = k.engine(converter=LAUNCHER)
    eng.recover()
    requests = k.server.stats()["requests"]
    run = eng.rebuild_library()
    assert eng.rebuild_library() is run, "one run at a time"
    assert run.wait(30)
    p = run.progress()
    assert (p.total, p.converted) == (3, 2)
    assert p.failed == (rebuild.Failure(str(bad), "bad", "The file is not a glTF model."),)
    for folder in (a, b):
        assert converter.finished_blend(folder)
        assert len(runs(folder)) == 1
    assert converter.finished_blend(a)["collection"] == rec.label
    assert k.server.stats()["requests"] == requests, "a rebuild never talks to Meshy"
    assert journal_record(k, "job1") == before, "the job's record is unchanged"
    again = eng.rebuild_library()
    assert again is not run and again.wait(30)
    assert again.progress().converted == 0 and again.progress().already == 2
    assert [len(runs(f)) for f in (a, b)] == [1, 1], "never converted twice"


def test_a_new_jobs_conversion_waits_for_one_rebuild_conversion_at_most(kit):
    k: EngineKit = kit()
    for n in range(4):
        v01_folder(k.library_dir, f"old{n}-0000000{n}")
    control(k, sleep=0.8)
    eng = k.engine(converter=LAUNCHER, max_conversions=1)
    run = eng.rebuild_library()
    wait_for(lambda: run.progress().running, what="the rebuild to start")
    job_id = eng.submit(spec(label="New"))
    view = k.wait(eng, job_id, "ready", "error", timeout=30)
    assert view.state == "ready", view.error
    assert run.progress().finished <= 2, "the job went ahead of the rest of the rebuild"
    assert run.wait(30) and run.progress().converted == 4
    started = sorted((r["started"], Path(r["argv"][-1]).name) for f in k.library_dir.iterdir() if f.is_dir()
                     for r in runs(f))
    assert len(started) == 5


def test_without_a_converter_nothing_is_rebuilt_and_the_run_says_why(kit):
    k: EngineKit = kit()
    v01_folder(k.library_dir, "chair-1a2b3c4d")
    eng = k.engine(converter=None)
    run = eng.rebuild_library()
    assert run.done and "No converter" in run.progress().stopped


def test_shutdown_stops_the_rebuild_and_the_next_engine_carries_on(kit):
    k: EngineKit = kit()
    folders = [v01_folder(k.library_dir, f"old{n}-0000000{n}") for n in range(3)]
    control(k, sleep=30)
    eng = k.engine(converter=LAUNCHER, max_conversions=1)
    run = eng.rebuild_library()
    wait_for(lambda: any(runs(f) for f in folders), what="a converter to start")
    eng.shutdown(wait=True)
    assert run.done and run.progress().converted == 0 and "closed" in run.progress().stopped
    assert not any((f / F.BLEND).exists() for f in folders), "a killed converter leaves no model.blend"
    control(k, sleep=0)
    eng2 = k.engine(converter=LAUNCHER)
    run2 = eng2.rebuild_library(automatic=True)
    assert run2.wait(30) and run2.progress().converted == 3
    assert all(converter.finished_blend(f) for f in folders)


def test_import_again_of_a_job_being_rebuilt_waits_and_never_converts_twice(kit):
    k: EngineKit = kit()
    folder = v01_folder(k.library_dir, "chair-1a2b3c4d")
    v01_record(k.journal_dir, folder, "job1")
    control(k, sleep=1.0)
    eng = k.engine(converter=LAUNCHER)
    eng.recover()
    run = eng.rebuild_library()
    wait_for(lambda: runs(folder), what="the rebuild's converter to start")
    eng.retry_download("job1")  # what Import Again does: the job converts its folder itself
    view = k.wait(eng, "job1", "ready", "error", timeout=30)
    assert view.state == "ready", view.error
    assert run.wait(30) and run.progress().converted == 1
    assert len(runs(folder)) == 1, "converted once, by the rebuild; the job found it complete"


def test_a_new_library_folder_is_rebuilt_after_the_first_use(kit, tmp_path):
    k: EngineKit = kit()
    eng = k.engine(converter=LAUNCHER)
    first = eng.rebuild_library(automatic=True)
    assert first.wait(30) and first.progress().total == 0
    other = tmp_path / "copied library"
    folder = v01_folder(other, "lamp-0f0f0f0f")
    eng.set_library_dir(other)  # the Model Library preference changed
    second = eng.rebuild_status()
    assert second is not first and second.automatic
    assert second.wait(30) and second.progress().converted == 1 and converter.finished_blend(folder)
