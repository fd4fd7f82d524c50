"""A follow-up job is never lost nor paid twice, in real Blender: SIGKILLed while its create is on the wire,
or while Meshy rigs it, the next Blender finds the task (Rigging's list: tasks of type "rig") and lands it once."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request

import pytest
from test_recovery import child, in_blend, job_of, journal, proc, wait_for  # noqa: F401  (fixture)
from workflow_support import TEST_KEY, png_file

pytestmark = [pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX"), pytest.mark.heavy]


def _api(srv, method, path, body=None):
    req = urllib.request.Request(srv.url + "/openapi/v1" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def finished_source(p) -> str:
    """A finished Image to 3D task of a standing figure (made on the server directly)."""
    photo = png_file(p.tmp, "figure", width=40, height=80)
    uri = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
    task_id = _api(p.server, "POST", "/image-to-3d", {"image_url": uri})["result"]
    deadline = time.monotonic() + 30
    while _api(p.server, "GET", f"/image-to-3d/{task_id}")["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return task_id


def rig_and_kill(p, source: str, phase: str, delay: float = 0.0) -> str:
    first = child(p, "--followup", "rigging", "--source", source, "--kill-at", phase, "--kill-delay", str(delay),
                  expect_kill=True)
    assert first.get("job_id"), "the child never submitted"
    return first["job_id"]


def assert_rig_landed_once(p, summary: dict, job_id: str) -> None:
    job = job_of(summary, job_id)
    assert job["state"] == "imported", job
    assert set(job["files"]["clips"]) == {"Walking", "Running"}
    saved = in_blend(p.blend)
    assert saved["collections"] == {job_id: 1}, f"landed {saved['collections'].get(job_id, 0)} times"
    assert p.server.stats()["creates"] == 2, "the source and one rigging task: never created twice"
    assert p.server.tasks[job["task_id"]].kind == "rigging"


def test_sigkill_while_the_rigging_create_is_on_the_wire(proc):  # noqa: F811  (the fixture)
    source = finished_source(proc)
    proc.server.set_faults(slow_ms=1500)  # the server holds the request: the answer comes too late
    job_id = rig_and_kill(proc, source, "after_submit", delay=0.4)
    rec = journal(proc, job_id)
    assert rec["state"] == "submitting" and not rec["task_id"] and rec["kind"] == "rigging"
    assert rec["lineage"]["source_task_id"] == source and rec["lineage"]["operation"] == "rig"
    proc.server.set_faults(slow_ms=0)
    wait_for(lambda: proc.server.stats()["creates"] == 2)  # the held request made the task meanwhile
    assert_rig_landed_once(proc, child(proc), job_id)


def test_sigkill_while_rigging_resumes(proc):  # noqa: F811  (the fixture)
    source = finished_source(proc)
    proc.server.task_seconds = 3.0
    job_id = rig_and_kill(proc, source, "generating")
    assert journal(proc, job_id)["task_id"]
    assert_rig_landed_once(proc, child(proc), job_id)
