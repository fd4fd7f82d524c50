"""Explicit inputs win over the context (issue 10, defect 1).

A custom button (`layout.operator("meshy.image_to_3d").filepath = ...`), a pie menu or a script
with `context.temp_override` calls the operators with a 3D Viewport or Image Editor context that
has no image of its own. poll() must only ask what the context decides (online access, key): the
operator's properties are invisible to it. The panel greys its own button (ui.missing_image), and
execute() says what is missing, naming a bad path or image name.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

import bl_support
import bpy
import pytest
from workflow_support import make_image, png_file, server_task

NOTHING_SELECTED = "select 1-4 reference images"


def _area(area_type: str):
    """A real area of the window in the given type (the 3D Viewport of the startup file, or one
    turned into an Image Editor showing no image), with its sidebar region."""
    window = bpy.context.window_manager.windows[0]
    areas = {a.type: a for a in window.screen.areas}
    area = areas.get(area_type)
    if area is None:
        area = areas.get("DOPESHEET_EDITOR") or window.screen.areas[0]
        area.type = area_type
    if area_type == "IMAGE_EDITOR":
        area.spaces.active.image = None
    region = next(r for r in area.regions if r.type == "UI")
    return window, area, region


@contextmanager
def inside(area_type: str):
    """The context a button drawn in that area's sidebar (or a pie menu over it) runs its operator in."""
    window, area, region = _area(area_type)
    with bpy.context.temp_override(window=window, screen=window.screen, area=area, region=region):
        assert bpy.context.area.type == area_type
        yield bpy.context


@pytest.fixture
def bare(meshy):
    """No image picked in the panel, nothing selected: only the operator's properties name an input."""
    bpy.context.scene.meshy.image = None
    for obj in bpy.context.scene.objects:
        obj.select_set(False)
    meshy.ui = importlib.import_module(bl_support.MODULE + ".blender.ui")
    return meshy


def _submitted(m, before: int):
    jobs = m.api.jobs()
    assert len(jobs) == before + 1, "exactly one job submitted"
    return jobs[0]


@pytest.mark.parametrize("area_type", ["VIEW_3D", "IMAGE_EDITOR"])
def test_filepath_from_a_button_in_an_area_without_image(bare, area_type):
    path = png_file(bare.tmp, "chair")
    with inside(area_type):
        assert bpy.ops.meshy.image_to_3d.poll(), "poll() refuses an operator whose filepath names the image"
        assert bpy.ops.meshy.image_to_3d(filepath=str(path)) == {"FINISHED"}
    job = _submitted(bare, 0)
    objects = bare.api.wait(job, timeout=60)
    assert any(o.type == "MESH" for o in objects)
    assert server_task(bare.server, job.view.task_id).images[0][0] == path.read_bytes()


@pytest.mark.parametrize("area_type", ["VIEW_3D", "IMAGE_EDITOR"])
def test_image_name_from_a_script_with_temp_override(bare, area_type):
    img = make_image("painted")
    with inside(area_type):
        assert bpy.ops.meshy.image_to_3d(image_name=img.name) == {"FINISHED"}
    job = _submitted(bare, 0)
    assert bare.api.wait(job, timeout=60)
    assert job.view.label == "painted"


def test_input_task_id_from_the_3d_viewport(bare):
    first = bare.api.submit_image(str(png_file(bare.tmp, "source")))
    bare.api.wait(first, timeout=60)
    with inside("VIEW_3D"):
        assert bpy.ops.meshy.image_to_3d(input_task_id=first.view.task_id) == {"FINISHED"}
    job = _submitted(bare, 1)
    assert bare.api.wait(job, timeout=60)
    source = server_task(bare.server, first.view.task_id)
    assert server_task(bare.server, job.view.task_id).images == source.images, "built from the input task"


def test_multi_image_filepaths_with_nothing_selected(bare):
    paths = [png_file(bare.tmp, f"view{i}", width=40 + i) for i in range(2)]
    with inside("VIEW_3D"):
        assert bpy.ops.meshy.multi_image_to_3d.poll()
        assert bpy.ops.meshy.multi_image_to_3d(filepaths=";".join(map(str, paths))) == {"FINISHED"}
    job = _submitted(bare, 0)
    assert bare.api.wait(job, timeout=60)
    task = server_task(bare.server, job.view.task_id)
    assert task.kind == "multi-image-to-3d" and [d for d, _ in task.images] == [p.read_bytes() for p in paths]


def _refused(call, *words) -> str:
    with pytest.raises(RuntimeError) as err:
        call()
    text = str(err.value)
    for word in words:
        assert word.lower() in text.lower(), text
    assert "poll()" not in text, f"refused by poll(), not by execute(): {text}"
    return text


@pytest.mark.parametrize("area_type", ["VIEW_3D", "IMAGE_EDITOR"])
def test_missing_input_is_reported_by_execute(bare, area_type):
    missing = bare.tmp / "nowhere" / "gone.png"
    with inside(area_type):
        _refused(lambda: bpy.ops.meshy.image_to_3d(), "No image", "filepath")
        _refused(lambda: bpy.ops.meshy.image_to_3d(filepath=str(missing)), "gone.png", "not found", str(missing))
        _refused(lambda: bpy.ops.meshy.image_to_3d(image_name="Nope"), "'Nope'", "no image named")
        _refused(lambda: bpy.ops.meshy.multi_image_to_3d(), NOTHING_SELECTED)
        _refused(lambda: bpy.ops.meshy.multi_image_to_3d(filepaths=str(missing)), "gone.png", "not found")
    assert bare.api.jobs() == [], "nothing submitted"
    shown = bare.report.panel_message()  # the panel keeps the last problem until dismissed
    assert "No image" in shown or "gone.png" in shown


def test_poll_still_decides_what_the_context_decides(bare):
    bpy.context.preferences.system.use_online_access = False
    try:
        with inside("VIEW_3D"):
            assert not bpy.ops.meshy.image_to_3d.poll()
            assert not bpy.ops.meshy.multi_image_to_3d.poll()
            with pytest.raises(RuntimeError, match="Online access is off"):
                bpy.ops.meshy.image_to_3d(filepath=str(png_file(bare.tmp, "offline")))
    finally:
        bpy.context.preferences.system.use_online_access = True
    assert bare.api.jobs() == []


def test_panel_greys_its_own_button_and_says_why(bare):
    ui = bare.ui
    with inside("VIEW_3D") as context:
        reason = ui.missing_image(context)
        assert reason.startswith("No image") and "pick" in reason
    with inside("IMAGE_EDITOR") as context:
        assert "Image > Open" in ui.missing_image(context)
    img = make_image("picked")
    bpy.context.scene.meshy.image = img
    with inside("VIEW_3D") as context:
        assert ui.missing_image(context) == ""
    with inside("IMAGE_EDITOR") as context:
        assert ui.missing_image(context) == "", "the Image Editor's button sends the picked image too"
        context.space_data.image = make_image("shown")
        assert ui.missing_image(context) == ""
