"""The fault matrix, through the add-on in real Blender: every job still completes and imports once.

The local server injects connection resets, 5xx bursts, 429 storms, a full account queue, slow and
truncated downloads, dropped streams and downloads without Range. Whatever happens on the wire, the
model in the scene comes from a whole file: every file handed to the importer (or, converted, to
the appender) is checked as it lands (spies around both, which call the real ones).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import bl_support
import bpy
import pytest
from workflow_support import png_file

pytestmark = pytest.mark.heavy  # version-independent (the wire): the oldest and newest Blender run it

FAST = {"retry_delay": 0.1, "retry_max_delay": 0.5, "queue_full_delay": 0.2, "queue_full_max_delay": 0.5,
        "reconcile_delays": (0.3, 0.6, 1.2), "poll_interval": 0.3}


@pytest.fixture
def fast(meshy, monkeypatch):
    """The add-on with short engine delays and a spy that checks each model file as it is imported."""
    monkeypatch.setattr(meshy.runtime, "ENGINE_TUNING", dict(FAST))
    client = importlib.import_module(bl_support.MODULE + ".meshy.client")
    monkeypatch.setattr(meshy.runtime, "CLIENT_TUNING", {"retry": client.RetryPolicy(base_delay=0.05, max_delay=0.3)})
    meshy.runtime.shutdown()  # the next engine is created with the tuning
    importer = importlib.import_module(bl_support.MODULE + ".blender.importer")
    real = importer.import_model
    meshy.imported_files = []

    def spy(context, glb_path, **kw):
        data = Path(glb_path).read_bytes()
        meshy.imported_files.append((data[:4] == b"glTF", int.from_bytes(data[8:12], "little") == len(data)))
        return real(context, glb_path, **kw)

    monkeypatch.setattr(importer, "import_model", spy)
    append = importlib.import_module(bl_support.MODULE + ".blender.append")

    class LandingSpy(append.Landing):  # the converter's path: the model.glb it converted, checked too
        def __init__(self, folder, **kw):
            data = (Path(folder) / "model.glb").read_bytes()
            meshy.imported_files.append((data[:4] == b"glTF", int.from_bytes(data[8:12], "little") == len(data)))
            super().__init__(folder, **kw)

    monkeypatch.setattr(append, "Landing", LandingSpy)
    meshy.report.reports.clear()
    meshy.server.task_seconds = 0.6
    return meshy


def run_job(m, *, when_pending: dict | None = None, **options):
    """Submit, optionally turn faults on once the task exists, and pump until imported."""
    job = m.api.submit_image(str(png_file(m.tmp, "faulty")), **options)
    seen = []

    def progress(view):
        seen.append((str(view.state), view.phase))
        if when_pending and view.task_id and not progress.armed:
            progress.armed = True
            m.server.set_faults(**when_pending)

    progress.armed = False
    objects = m.api.wait(job, timeout=60, on_progress=progress)
    return job, objects, seen


def assert_clean(m, job, objects, creates=1):
    assert job.state == "imported" and objects
    assert sum(1 for c in bpy.data.collections if c.get("meshy_job_id") == job.id) == 1, "imported once"
    assert m.imported_files == [(True, True)], "only a whole GLB was ever imported, once"
    folder = Path(job.view.folder)
    assert not list(folder.rglob("*.part")), "no partial download left behind"
    model = Path(job.view.files["model"]).read_bytes()
    assert model[:4] == b"glTF" and int.from_bytes(model[8:12], "little") == len(model)
    assert m.server.stats()["creates"] == creates, "never submitted twice"
    assert not [r for r in m.report.reports if r[0] == "ERROR"], m.report.reports


def test_connection_resets_everywhere(fast):
    fast.server.set_faults(reset_after_send=1)  # the create's answer is lost: reconciled, not resent
    job, objects, _ = run_job(fast, when_pending={"reset_connections": 5})
    assert_clean(fast, job, objects)


def test_5xx_bursts(fast):
    fast.server.set_faults(http_5xx=3)  # on the create: retried (Meshy answered, nothing was made)
    job, objects, _ = run_job(fast, when_pending={"http_5xx": 8})
    assert_clean(fast, job, objects)


def test_429_rate_limit_storm(fast):
    fast.server.set_faults(rate_limit=8, retry_after=0)  # more than the client retries: the job waits
    job, objects, seen = run_job(fast, when_pending={"rate_limit": 6, "retry_after": 0})
    assert_clean(fast, job, objects)
    assert ("queued", "Rate limited by Meshy — waiting") in seen


def test_full_queue_shows_queued_then_completes(fast):
    fast.server.set_faults(queue_full=3, retry_after=0)
    job, objects, seen = run_job(fast)
    assert_clean(fast, job, objects)
    assert ("queued", "Meshy queue full — waiting") in seen, "shown as queued while Meshy's queue is full"


def test_slow_server(fast):
    fast.server.set_faults(slow_ms=250)
    job, objects, _ = run_job(fast)
    assert_clean(fast, job, objects)


def test_slow_download_shows_progress(fast):
    job, objects, seen = run_job(fast, when_pending={"download_bps": 150_000})
    assert_clean(fast, job, objects)
    assert any(state == "downloading" and phase.startswith("Downloading") for state, phase in seen)


def test_truncated_downloads(fast):
    job, objects, _ = run_job(fast, when_pending={"truncate_downloads": 3})
    assert_clean(fast, job, objects)


def test_streams_dropped_midway(fast):
    fast.server.task_seconds = 1.5
    job, objects, _ = run_job(fast, when_pending={"stream_drop_after": 1, "stream_drops": 4})
    assert_clean(fast, job, objects)


def test_downloads_without_range(fast):
    job, objects, _ = run_job(fast, when_pending={"no_range": True, "truncate_downloads": 2})
    assert_clean(fast, job, objects)


def test_everything_at_once_for_several_jobs(fast):
    fast.server.set_faults(reset_after_send=1, http_5xx=1, queue_full=1, retry_after=0)
    fast.server.task_seconds = 1.5
    jobs = [fast.api.submit_image(str(png_file(fast.tmp, f"storm{i}"))) for i in range(3)]
    eng = fast.runtime.engine()
    while not all(job.view.task_id for job in jobs):  # resets before a create arrives end "unknown"
        fast.pump.tick(bpy.context, events=eng.poll_events(timeout=0.05))
    fast.server.set_faults(reset_connections=3, stream_drop_after=1, stream_drops=3, truncate_downloads=3,
                           rate_limit=2, no_range=True)
    for job in jobs:
        assert fast.api.wait(job, timeout=90)
    assert fast.server.stats()["creates"] == 3
    assert all(ok == (True, True) for ok in fast.imported_files) and len(fast.imported_files) == 3
    for job in jobs:
        assert sum(1 for c in bpy.data.collections if c.get("meshy_job_id") == job.id) == 1


def test_reset_before_the_create_arrives_is_never_resent(fast):
    """Meshy never got the create: the job says so ("unknown") and is only sent again on purpose."""
    fast.server.set_faults(reset_connections=1)
    job = fast.api.submit_image(str(png_file(fast.tmp, "lost")))
    with pytest.raises(fast.api.JobFailed):
        fast.api.wait(job, timeout=30)
    assert job.state == "unknown" and "Submit again" in job.view.error
    # wait() ends on the snapshot, which changes before the event is queued (the journal is written
    # first): pump on until the report has come, as the modal pump does.
    eng, deadline = fast.runtime.engine(), time.monotonic() + 15.0
    while not any("Submit again" in text for _, text in fast.report.reports) and time.monotonic() < deadline:
        fast.pump.tick(bpy.context, events=eng.poll_events(timeout=0.05))
    assert any("Submit again" in text for _, text in fast.report.reports), "shown in the status bar"
    assert fast.server.stats()["creates"] == 0, "never submitted again on its own"
    assert bpy.ops.meshy.resubmit("EXEC_DEFAULT", job_id=job.id) == {"FINISHED"}
    again = fast.api.jobs()[0]
    assert again.id != job.id and fast.api.wait(again, timeout=30)
    assert fast.server.stats()["creates"] == 1
