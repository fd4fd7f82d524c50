"""A Blender killed while its image child renders a generated image: the job is neither lost nor sent twice.

The job is journalled ("preparing") before the child starts; the child dies with the Blender that
started it; the next start says the inputs were lost (nothing was sent: the user submits again),
and no create ever reaches the server. Not killed, the same job is created once and lands.
"""

from __future__ import annotations

import os
import time

import pytest
from child_job import image_children
from test_recovery import child, journal, proc  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")


def test_sigkill_while_the_image_child_renders(proc):  # noqa: F811  (the fixture)
    first = child(proc, "--generated", "2048", "--kill-at", "rendering", expect_kill=True)
    job_id = first["job_id"]
    assert journal(proc, job_id)["state"] == "preparing"  # journalled before the child started
    deadline = time.monotonic() + 10
    while image_children(1) and time.monotonic() < deadline:  # adopted by init: its Blender is gone
        time.sleep(0.1)
    assert not image_children(1), "the image child outlived the Blender that started it"
    summary = child(proc, "--until", "finished")
    job = next(j for j in summary["jobs"] if j["id"] == job_id)
    assert job["state"] == "error" and "not saved before Blender stopped" in job["error"], job
    assert proc.server.stats()["creates"] == 0, "nothing was sent"


def test_a_generated_image_is_created_once_and_lands(proc):  # noqa: F811
    summary = child(proc, "--generated", "512")
    (job,) = summary["jobs"]
    assert job["state"] == "imported" and summary["tagged"].get(job["id"])
    assert proc.server.stats()["creates"] == 1
