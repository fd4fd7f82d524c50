"""What the Jobs panel draws for a finished job (issue 10, defect 5): Meshy's message once, in full.

The bpy module draws nothing, so the test reads `ui.job_status`, the one function the panel's
job list draws a finished job's status line and message lines from, for a job that really failed
on the local server.
"""

from __future__ import annotations

import importlib

import bl_support
import pytest
from workflow_support import png_file


@pytest.mark.parametrize("failure", ["image_too_complex", "moderation_blocked"])
def test_failed_job_shows_meshys_message_once(meshy, failure):
    ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "vase")), texture_prompt=f"[fail:{failure}]")
    with pytest.raises(meshy.api.JobFailed):
        meshy.api.wait(job, timeout=60)
    view = job.view
    assert view.state == "failed" and len(view.error) > 30, view
    status, lines = ui.job_status(view)
    drawn = " ".join([status, *lines])
    assert view.error not in status, f"the status line repeats the message: {status!r}"
    assert " ".join(lines) == " ".join(view.error.split()), "the message in full below the status line"
    first_words = " ".join(view.error.split()[:3])
    assert drawn.count(first_words) == 1, f"the message is drawn more than once: {drawn!r}"
    assert status == "Failed"
    assert all(len(line) <= 42 for line in lines), lines


def test_other_phases_are_left_as_they_are(meshy):
    ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "kept")))
    meshy.api.wait(job, timeout=60)
    assert ui.job_status(job.view) == ("Imported", [])
