"""A rig's clips play at real speed in the scene they land in, whatever its frame rate, and an
animation's post-processed files (Meshy's change_fps FBX) are kept beside the model: real Blender,
the background converter, the local server."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest
from workflow_support import png_file, server_task


@pytest.fixture
def source(meshy):
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "figure", width=40, height=80)))
    meshy.api.wait(job, timeout=120)
    return job


def walking_frames(meshy, source, fps: int, base: float = 1.0) -> float:
    """How many frames the rig's Walking clip spans, rigged from a scene at fps / base."""
    render = bpy.context.scene.render
    render.fps, render.fps_base = fps, base
    job = meshy.api.rig(source)
    (arm,) = [o for o in meshy.api.wait(job, timeout=180) if o.type == "ARMATURE"]
    assert job.view.target["fps"] == [fps, pytest.approx(base)]
    walking = {t.name: t.strips[0].action for t in arm.animation_data.nla_tracks}["Walking"]
    start, end = walking.frame_range
    return end - start


def test_a_clip_spans_the_frames_of_its_seconds_at_the_scenes_rate(meshy, source):
    at_24 = walking_frames(meshy, source, 24)
    at_60 = walking_frames(meshy, source, 60)
    at_ntsc = walking_frames(meshy, source, 30, 1.001)  # 29.97 fps
    assert at_24 > 10
    assert at_60 == pytest.approx(at_24 * 60 / 24, abs=1.5), "the same seconds, keyed at 60 fps"
    assert at_ntsc == pytest.approx(at_24 * (30 / 1.001) / 24, abs=1.5)


def test_an_animation_lands_on_its_rig_at_the_scenes_rate(meshy, source):
    bpy.context.scene.render.fps = 30
    rig = meshy.api.rig(source)
    (arm,) = [o for o in meshy.api.wait(rig, timeout=180) if o.type == "ARMATURE"]
    job = meshy.api.animate(rig, 0)
    assert meshy.api.wait(job, timeout=120) == [arm]
    idle = arm.animation_data.action
    bpy.context.scene.render.fps = 24
    again = meshy.api.animate(rig, 0)
    meshy.api.wait(again, timeout=120)
    idle_24 = arm.animation_data.action
    assert idle is not idle_24
    span = lambda action: action.frame_range[1] - action.frame_range[0]  # noqa: E731
    assert span(idle) == pytest.approx(span(idle_24) * 30 / 24, abs=1.5)


def test_change_fps_keeps_meshys_fbx_beside_the_model(meshy, source):
    rig = meshy.api.rig(source)
    meshy.api.wait(rig, timeout=180)
    job = meshy.api.animate(rig, 0, operation_type="change_fps", fps=60)
    meshy.api.wait(job, timeout=120)
    request = dict(server_task(meshy.server, job.view.task_id).derived["request"])
    assert request["post_process"] == {"operation_type": "change_fps", "fps": 60}
    fbx = Path(job.view.files["processed_animation_fps_fbx"])
    assert fbx.name == "animation_fps.fbx" and fbx.parent == Path(job.view.folder)
    assert fbx.is_file() and fbx.stat().st_size > 0
    plain = meshy.api.animate(rig, 1)
    meshy.api.wait(plain, timeout=120)
    assert "processed_animation_fps_fbx" not in plain.view.files, "no post-processing: no FBX asked for"
    assert not list(Path(plain.view.folder).glob("*.fbx"))
