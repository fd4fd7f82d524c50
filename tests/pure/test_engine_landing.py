"""The engine's side of a model landing over several main-thread steps: its phase is shown at once
and not journalled; "importing" can stay in memory when "imported" follows in the same step."""

from __future__ import annotations

import json

from test_engine_support import journal_record, png

from meshy_blender.jobs import JobSpec, UploadImage


def _ready(kit):
    k = kit(task_seconds=0.2)
    eng = k.engine()
    job_id = eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("p.png", "image/png", png(8, 8))]))
    k.wait(eng, job_id, "ready")
    eng.poll_events(max_events=1000)
    return k, eng, job_id


def test_show_phase_is_announced_at_once_and_not_journalled(kit):
    k, eng, job_id = _ready(kit)
    before = (k.journal_dir / f"{job_id}.json").read_bytes()
    for n in (1, 2, 3):  # faster than the engine's event interval: each still comes at once
        eng.show_phase(job_id, f"Importing ({n}/4)")
        events = eng.poll_events(timeout=0.5)
        assert [e.view.phase for e in events if e.job_id == job_id] == [f"Importing ({n}/4)"]
        assert not any(e.ready for e in events)
    assert eng.get(job_id).state == "ready"
    assert (k.journal_dir / f"{job_id}.json").read_bytes() == before


def test_importing_in_memory_then_imported_keeps_the_whole_history(kit):
    k, eng, job_id = _ready(kit)
    before = (k.journal_dir / f"{job_id}.json").read_bytes()
    eng.mark_importing(job_id, persist=False)
    assert eng.get(job_id).state == "importing"
    assert (k.journal_dir / f"{job_id}.json").read_bytes() == before, "not written"
    eng.mark_imported(job_id, ["Chair"], "/x/a.blend")
    states = [state for state, _ in journal_record(k, job_id)["history"]]
    assert states[-3:] == ["ready", "importing", "imported"]
    assert json.loads((k.journal_dir / f"{job_id}.json").read_text())["state"] == "imported"
