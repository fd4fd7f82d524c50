"""The panel's settings map to exactly the options the user changed, following Meshy's rules."""

import importlib
import types

import bl_support
import pytest


@pytest.fixture
def props(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.properties")


def settings(props, **changed):
    values = {name: props.DEFAULTS.get(name) for name in props.OPTION_NAMES}
    values.update(should_remesh="DEFAULT", format_extra=False)
    values.update(changed)
    return types.SimpleNamespace(**values)


def test_defaults_send_nothing(props):
    assert props.to_options(settings(props)) == {}


def test_texture_options_dropped_without_texturing(props):
    s = settings(props, should_texture=False, enable_pbr=True, texture_prompt="oak", hd_texture=True)
    assert props.to_options(s) == {"should_texture": False}


def test_meshy6_only_options_dropped_for_meshy5(props):
    s = settings(props, ai_model="meshy-5", hd_texture=True, image_enhancement=False, enable_pbr=True)
    assert props.to_options(s) == {"ai_model": "meshy-5", "enable_pbr": True}


def test_origin_only_with_auto_size(props):
    assert props.to_options(settings(props, origin_at="center")) == {}
    assert props.to_options(settings(props, origin_at="center", auto_size=True)) == {
        "origin_at": "center", "auto_size": True}


def test_remesh_tri_state_and_remesh_options(props):
    assert props.to_options(settings(props, should_remesh="ON", target_polycount=500)) == {
        "should_remesh": True, "target_polycount": 500}
    assert props.to_options(settings(props, should_remesh="OFF", target_polycount=500)) == {"should_remesh": False}


def test_model_type_only_for_single_images(props):
    s = settings(props, model_type="lowpoly")
    assert props.to_options(s) == {"model_type": "lowpoly"}
    assert props.to_options(s, multi=True) == {}


def test_all_formats_and_webhook(props):
    s = settings(props, format_extra=True, webhook_url="https://example.com/hook")
    opts = props.to_options(s)
    assert opts["target_formats"] == ["glb", "obj", "fbx", "stl", "usdz", "3mf"]
    assert opts["webhook_url"] == "https://example.com/hook"


@pytest.mark.parametrize(("model", "texture", "credits"), [
    ("latest", True, 30), ("meshy-6", False, 20), ("meshy-5", True, 15), ("meshy-5", False, 5)])
def test_cost_line_follows_the_credit_table(props, model, texture, credits):
    assert props.credits_for(settings(props, ai_model=model, should_texture=texture)) == credits


def test_every_panel_option_is_an_operator_property(addon):
    import bpy

    op_props = bpy.ops.meshy.image_to_3d.get_rna_type().properties
    props = importlib.import_module(bl_support.MODULE + ".blender.properties")
    missing = [n for n in props.OPTION_NAMES if n not in op_props]
    assert missing == []
    assert {"filepath", "image_name", "input_task_id"} <= set(op_props.keys())
