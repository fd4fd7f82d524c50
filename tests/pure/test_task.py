"""Task parsing is tolerant: nulls, missing fields, variants and unknown fields never break it."""

import pytest

from meshy_blender.meshy.task import Task, TaskError, TaskStatus

FULL = {
    "id": "018a210d-8ba4-705c-b111-1f1776f7f578",
    "type": "multi-image-to-3d",
    "model_urls": {"glb": "https://a/m.glb", "fbx": "https://a/m.fbx", "usdz": "", "stl": None},
    "thumbnail_url": "https://a/preview.png",
    "texture_prompt": "",
    "progress": 100,
    "started_at": 1692771667037,
    "created_at": 1692771650657,
    "expires_at": 1692771679037,
    "finished_at": 1692771669037,
    "status": "SUCCEEDED",
    "texture_urls": [{"base_color": "https://a/t.png", "metallic": "https://a/m.png"}],
    "preceding_tasks": 0,
    "task_error": {"message": ""},
    "consumed_credits": 30,
}


def test_full_object():
    task = Task.from_json(FULL)
    assert task.id == FULL["id"] and task.type == "multi-image-to-3d"
    assert task.status == TaskStatus.SUCCEEDED and task.succeeded and task.is_terminal
    assert task.progress == 100
    assert task.model_urls == {"glb": "https://a/m.glb", "fbx": "https://a/m.fbx"}  # empty formats absent
    assert task.texture_urls == [{"base_color": "https://a/t.png", "metallic": "https://a/m.png"}]
    assert task.created_at == 1692771650657 and task.finished_at == 1692771669037
    assert task.task_error is None and task.error_message == ""
    assert task.consumed_credits == 30
    assert task.extra == {}
    assert task.raw == FULL
    assert Task.from_json(task.to_json()) == task


def test_nulls_and_missing_fields():
    task = Task.from_json({"id": "t", "progress": None, "status": None, "started_at": None,
                           "finished_at": None, "model_urls": None, "texture_urls": None,
                           "task_error": None, "preceding_tasks": None, "consumed_credits": None,
                           "thumbnail_url": None})
    assert task.progress == 0 and task.status == "PENDING"
    assert task.started_at == 0 and task.finished_at == 0 and task.expires_at == 0
    assert task.model_urls == {} and task.texture_urls == [] and task.thumbnail_url == ""
    assert task.task_error is None and task.consumed_credits is None and task.preceding_tasks == 0
    assert not task.is_terminal
    bare = Task.from_json({})
    assert bare.id == "" and bare.progress == 0


def test_odd_values():
    task = Task.from_json({"id": "t", "progress": "42.7", "created_at": "1692771650657",
                           "status": "in_progress", "expires_at": "soon"})
    assert task.progress == 42 and task.created_at == 1692771650657 and task.expires_at == 0
    assert task.status == TaskStatus.IN_PROGRESS
    assert Task.from_json({"progress": 250}).progress == 100
    assert Task.from_json({"progress": True}).progress == 0
    with pytest.raises(TypeError):
        Task.from_json(["not", "a", "dict"])


def test_unknown_status_kept():
    task = Task.from_json({"id": "t", "status": "QUEUED_FOR_REVIEW"})
    assert task.status == "QUEUED_FOR_REVIEW"
    assert not task.is_terminal and not task.succeeded and task.error_message == ""


def test_texture_urls_object_or_list():
    one = Task.from_json({"texture_urls": {"base_color": "https://a/b.png"}})
    assert one.texture_urls == [{"base_color": "https://a/b.png"}]
    many = Task.from_json({"texture_urls": [{"base_color": "u1"}, {"base_color": "u2", "normal": ""}, {}, 5]})
    assert many.texture_urls == [{"base_color": "u1"}, {"base_color": "u2"}]
    assert Task.from_json({"texture_urls": "nope"}).texture_urls == []


def test_thumbnails():
    task = Task.from_json({"thumbnail_urls": {"front": "f", "back": "b"}, "alpha_thumbnail_url": "a"})
    assert task.thumbnail_urls == {"front": "f", "back": "b"} and task.alpha_thumbnail_url == "a"
    as_list = Task.from_json({"thumbnail_urls": ["f", "r", "b", "l", "x"]})
    assert as_list.thumbnail_urls == {"front": "f", "right": "r", "back": "b", "left": "l", "4": "x"}


def test_model_url_shortcut_fills_glb():
    assert Task.from_json({"model_url": "https://a/m.glb"}).model_urls == {"glb": "https://a/m.glb"}
    both = Task.from_json({"model_url": "x", "model_urls": {"glb": "y"}})
    assert both.model_urls == {"glb": "y"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"message": ""}, None),
        ({"message": "   "}, None),
        (None, None),
        ({}, None),
        ({"message": "moderation_blocked"}, TaskError("", "moderation_blocked", None)),
        ({"type": "moderation_blocked", "code": "moderation_blocked", "message": "Flagged"},
         TaskError("moderation_blocked", "Flagged", "moderation_blocked")),
        ({"type": None, "code": 42, "message": "x"}, TaskError("", "x", 42)),
        ("plain text", TaskError("", "plain text", None)),
        (17, None),
    ],
)
def test_task_error_variants(value, expected):
    assert TaskError.from_json(value) == expected


def test_failed_and_canceled_messages():
    failed = Task.from_json({"status": "FAILED", "task_error": {"message": "image_too_complex"}})
    assert failed.failed and failed.is_terminal and failed.error_message == "image_too_complex"
    silent = Task.from_json({"status": "FAILED", "task_error": {"message": ""}})
    assert "failed" in silent.error_message
    canceled = Task.from_json({"status": "CANCELED"})
    assert canceled.canceled and canceled.is_terminal and "canceled" in canceled.error_message


def test_unknown_fields_kept():
    task = Task.from_json({"id": "t", "art_style": "realistic", "texture_image_url": "u", "new": {"x": 1}})
    assert task.extra == {"art_style": "realistic", "texture_image_url": "u", "new": {"x": 1}}


def test_merge_partial_stream_events():
    start = Task.from_json({"id": "t", "type": "image-to-3d"})
    running = start.merge({"id": "t", "progress": 40, "status": "IN_PROGRESS"})
    assert running.type == "image-to-3d" and running.progress == 40 and running.status == "IN_PROGRESS"
    assert start.progress == 0  # snapshots are never mutated
    done = running.merge(FULL | {"id": "t"})
    assert done.succeeded and done.model_urls["glb"] == "https://a/m.glb"
    assert running.merge({"progress": 50}).id == "t"
    with pytest.raises(AttributeError):
        done.status = "FAILED"
