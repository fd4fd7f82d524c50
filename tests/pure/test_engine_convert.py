"""The engine's "converting" phase: a real child process per conversion (a stand-in for the
background Blender, tests/pure/stand_in_converter.py), over real HTTP to the local server.

The real converter (convert_child.py in Blender) is tested in tests/blender/test_convert.py and
tests/blender/test_wired.py; here the engine's side: journalled phase, recovery, never twice,
Stop kills the child, the time limit, bounded parallelism, the fallback, no secrets in the child.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

import pytest
from test_engine import spec
from test_engine_recovery import write_record
from test_engine_support import KEY, EngineKit, states_of

from meshy_blender.jobs import converter
from meshy_blender.jobs import files as F
from meshy_blender.jobs.convert_worker import CONVERT_FROM

STAND_IN = str(Path(__file__).with_name("stand_in_converter.py"))
LAUNCHER = converter.Launcher(python=sys.executable, script=STAND_IN)


def control(k: EngineKit, **what) -> None:
    k.library_dir.mkdir(parents=True, exist_ok=True)
    (k.library_dir / "stand_in.json").write_text(json.dumps(what))


def runs(folder: str | Path) -> list[dict]:
    path = Path(folder) / "stand_in_runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split(") ", 1)[1][0] != "Z"


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def test_a_job_converts_between_downloading_and_ready(kit, monkeypatch):
    monkeypatch.setenv("MESHY_API_KEY", KEY)  # in this process's environment: must not reach the child
    monkeypatch.setenv("HTTPS_PROXY", "http://user:proxy-pass-Zq81@proxy.example:3128")
    k = kit()
    control(k, sleep=0.6)
    eng = k.engine(converter=LAUNCHER)
    job_id = eng.submit(spec(label="Chair"))
    view = k.wait(eng, job_id, "ready", "error")
    assert view.state == "ready", view.error
    assert states_of(k, job_id)[-3:] == ["downloading", "converting", "ready"]
    info = converter.finished_blend(view.folder)
    assert info["collection"] == "Chair"
    seen = [e.view for e in k.seen(eng, job_id)]
    converting = [v for v in seen if v.state == "converting"]
    assert converting and converting[0].progress == pytest.approx(CONVERT_FROM)
    assert any(v.phase.startswith("Converting (") for v in converting), "the panel shows the conversion going on"
    bar = [v.progress for v in seen]
    assert bar == sorted(bar), "the progress bar only rises"
    [run] = runs(view.folder)
    text = json.dumps(run)
    assert KEY not in text and "proxy-pass" not in text
    assert "MESHY_API_KEY" not in run["environ"] and run["environ"]["HOME"] != os.environ.get("HOME")
    assert eng.converter_problem() is None


def test_import_again_and_retry_never_convert_twice(kit):
    k = kit()
    eng = k.engine(converter=LAUNCHER)
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "ready")
    eng.mark_importing(job_id)
    eng.mark_imported(job_id, ["Obj"], "")
    eng.retry_download(job_id)  # what Import Again does when the model is on disk
    assert k.wait(eng, job_id, "ready").state == "ready"
    assert len(runs(view.folder)) == 1
    (Path(view.folder) / F.BLEND).unlink()  # the model.blend is gone: converting again is the way back
    eng.mark_importing(job_id)
    eng.mark_imported(job_id, ["Obj"], "")
    eng.retry_download(job_id)
    k.wait(eng, job_id, "ready")
    assert len(runs(view.folder)) == 2 and converter.finished_blend(view.folder)


def _downloaded_record(k: EngineKit, job_id: str, state: str):
    rec = write_record(k, job_id, state, task_id="t-" + job_id, files={"model": F.MODEL})
    (Path(rec.folder) / F.MODEL).write_bytes(b"glTF-not-read-by-the-stand-in")
    return rec


def test_recovered_converting_job_converts_again(kit):
    k = kit()
    rec = _downloaded_record(k, "conv1", "converting")
    (Path(rec.folder) / "model.blend.4242.part").write_bytes(b"BLENDER partial")  # a killed converter's file
    eng = k.engine(converter=LAUNCHER)
    assert eng.recover() == ["conv1"]
    view = k.wait(eng, "conv1", "ready", "error")
    assert view.state == "ready" and len(runs(rec.folder)) == 1
    assert not list(Path(rec.folder).glob("*.part"))
    assert k.server.stats()["creates"] == 0


def test_a_finished_model_blend_is_never_converted_twice(kit):
    k = kit()
    rec = _downloaded_record(k, "conv2", "converting")
    proc = converter.Conversion(LAUNCHER, converter.ConvertRequest(folder=rec.folder, label="Crashed"))
    proc.run()  # finished, then the Blender died before the journal said "ready"
    eng = k.engine(converter=LAUNCHER)
    eng.recover()
    assert k.wait(eng, "conv2", "ready").state == "ready"
    assert len(runs(rec.folder)) == 1


def test_stop_kills_the_converter(kit):
    k = kit()
    control(k, sleep=60)
    eng = k.engine(converter=LAUNCHER)
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "converting")
    [run] = wait_for(lambda: runs(view.folder), what="the converter to start")
    assert alive(run["pid"])
    eng.cancel(job_id)
    wait_for(lambda: not alive(run["pid"]), timeout=5, what="the converter to be killed")
    assert eng.get(job_id).state == "canceled"
    with pytest.raises(converter.BlendNotReady):
        converter.finished_blend(view.folder)


def test_shutdown_kills_the_converter_and_the_next_engine_converts(kit):
    k = kit()
    control(k, sleep=60)
    eng = k.engine(converter=LAUNCHER)
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "converting")
    [run] = wait_for(lambda: runs(view.folder), what="the converter to start")
    eng.shutdown(wait=True)
    assert not alive(run["pid"])
    control(k, sleep=0)
    eng2 = k.engine(converter=LAUNCHER)
    assert eng2.recover() == [job_id]
    assert k.wait(eng2, job_id, "ready").state == "ready"


def test_time_limit(kit):
    k = kit()
    control(k, sleep=60)
    eng = k.engine(converter=LAUNCHER, convert_time_limit=0.5)
    job_id = eng.submit(spec(label="Slow"))
    view = k.wait(eng, job_id, "error")
    assert "took longer than 0.5 s" in view.error and "Retry" in view.error
    assert not alive(runs(view.folder)[0]["pid"])


def test_a_file_the_converter_cannot_read(kit):
    k = kit()
    control(k, fail="The downloaded model is not a valid GLB file: press Retry to download it again.")
    eng = k.engine(converter=LAUNCHER)
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "error")
    assert view.error == "The downloaded model is not a valid GLB file: press Retry to download it again."
    assert view.phase.startswith("Import failed: ")


def test_no_converter_falls_back_to_ready_with_the_glb(kit):
    k = kit()
    eng = k.engine(converter=converter.Launcher(blender="/nonexistent/blender"))
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "ready", "error")
    assert view.state == "ready" and view.files["model"].endswith(F.MODEL)
    assert "/nonexistent/blender" in eng.converter_problem()
    assert states_of(k, job_id)[-2:] == ["converting", "ready"]


def test_conversions_are_bounded_and_the_bound_applies_at_once(kit):
    k = kit()
    control(k, sleep=1.0)
    eng = k.engine(converter=LAUNCHER, max_conversions=1)
    ids = [eng.submit(spec(label=f"job{i}")) for i in range(3)]
    views = [k.wait(eng, i, "ready", timeout=30) for i in ids]
    spans = sorted((r["started"], json.loads((Path(v.folder) / F.BLEND_RESULT).read_text())["finished"])
                   for v in views for r in runs(v.folder))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"one at a time: {spans}"
    eng.set_max_conversions(3)
    assert eng.max_conversions == 3
    ids = [eng.submit(spec(label=f"par{i}")) for i in range(2)]
    views = [k.wait(eng, i, "ready", timeout=30) for i in ids]
    started = sorted(r["started"] for v in views for r in runs(v.folder))
    finished = [json.loads((Path(v.folder) / F.BLEND_RESULT).read_text())["finished"] for v in views]
    assert started[-1] < min(finished), "two at once after raising the bound"
