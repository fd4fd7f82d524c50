"""What a job's asset says about itself (convert_worker.request_for): catalog, search tags, description."""

from __future__ import annotations

import json

from meshy_blender.jobs import convert_worker as W
from meshy_blender.jobs.journal import JobRecord


def record(**kw) -> JobRecord:
    base = dict(id="job-1", kind="image-to-3d", label="chair", task_id="task-77", folder="/lib/chair-1234abcd",
                input_names=["/photos/chair.jpg"], credits=30, task_created_at=1_780_000_000_000)
    base.update(kw)
    return JobRecord(**base)


def test_tags_and_description_of_a_single_image_job():
    rec = record(options={"ai_model": "meshy-6", "enable_pbr": True, "texture_image_url": "data:image/png;base64,AAAA"})
    req = W.request_for(rec)
    assert req.asset_tags == ("meshy", "image-to-3d", "meshy-6", "chair")
    lines = req.description.splitlines()
    assert lines[0] == "Meshy Image to 3D, task task-77"
    assert lines[1] == "Photos: chair"
    assert lines[2] == "Options: ai_model=meshy-6, enable_pbr=True (AI model meshy-6)", "data URIs are left out"
    assert lines[3] == "Credits: 30"
    assert lines[4] == "Created: 2026-05-28 20:26 UTC"
    assert req.catalog == ("Meshy",)
    assert json.loads(req.argument())["library"] == "/lib", "the catalog file lives at the library's root"


def test_multi_image_follow_up_and_defaults():
    rec = record(kind="multi-image-to-3d", input_names=["C:\\shots\\front.png", "side view.PNG", "front.png"])
    assert W.request_for(rec).asset_tags == ("meshy", "multi-image-to-3d", "latest", "front", "side view")
    follow = record(input_names=[], input_task_id="task-1", credits=None, options={})
    text = W.request_for(follow).description
    assert "From task task-1" in text and "Credits: unknown" in text and "Meshy defaults (AI model latest)" in text


def test_catalog_from_the_job_target():
    assert W.request_for(record(target={"catalog": "Spring shoot"})).catalog == ("Meshy", "Spring shoot")
    assert W.request_for(record(target={"catalog": ["Meshy", "A", "B"]})).catalog == ("Meshy", "A", "B")
    assert W.request_for(record(target={"catalog": ["Lot 4"]})).catalog == ("Meshy", "Lot 4")
    assert W.request_for(record(target={"catalog": 7})).catalog == ("Meshy",)


def test_long_tags_are_cut_to_blenders_limit():
    rec = record(input_names=["x" * 100 + ".png"])
    assert max(len(t) for t in W.request_for(rec).asset_tags) == 63


def test_a_follow_up_says_what_it_was_made_from():
    """The Asset Browser shows "chair / remesh 5k"; its tags and description carry the lineage."""
    rec = record(kind="remesh", label="chair / remesh 5k", input_names=[], input_task_id="task-77", credits=5,
                 options={"target_polycount": 5000},
                 lineage={"operation": "remesh", "source_task_id": "task-77", "source_job_id": "job-0",
                          "source_label": "chair", "options": {"target_polycount": 5000}})
    req = W.request_for(rec)
    assert req.label == "chair / remesh 5k"
    assert req.asset_tags == ("meshy", "remesh", "chair"), "no AI model; searching 'chair' finds its follow-ups"
    lines = req.description.splitlines()
    assert lines[0] == "Meshy Remesh, task task-77"
    assert lines[1] == "Remesh of chair (task task-77, job job-0)"
    assert lines[2] == "Options: target_polycount=5000"
    assert req.tags["meshy_operation"] == "remesh" and req.tags["meshy_source_task_id"] == "task-77"
