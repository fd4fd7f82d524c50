"""The panel's settings map to exactly the options the user changed, following Meshy's rules; every option
declared in meshy/options.py has its Blender property, tooltip, command-line flag and enabling rule."""

import argparse
import importlib
import types

import bl_support
import pytest

MODULE = bl_support.MODULE


@pytest.fixture
def props(addon):
    return importlib.import_module(MODULE + ".blender.properties")


@pytest.fixture
def options(addon):
    return importlib.import_module(MODULE + ".meshy.options")


def settings(props, **changed):
    values = {name: props.blender_default(spec) for name, spec in props.BY_SETTING.items()}
    values.update(source="IMAGE")
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


def test_pose_none_is_meshys_empty_pose(props):
    assert props.to_options(settings(props, pose_mode="NONE")) == {}
    assert props.to_options(settings(props, pose_mode="t-pose")) == {"pose_mode": "t-pose"}


def test_explicit_options_that_a_rule_refuses_go_to_validation(props):
    s = settings(props, ai_model="meshy-5", hd_texture=True, image_enhancement=False)
    assert props.to_options(s, explicit=["hd_texture", "image_enhancement"]) == {
        "ai_model": "meshy-5", "hd_texture": True}  # turning off what does not apply is fine


def test_every_panel_option_is_an_operator_property(addon):
    import bpy

    op_props = bpy.ops.meshy.image_to_3d.get_rna_type().properties
    props = importlib.import_module(MODULE + ".blender.properties")
    missing = [n for n in props.OPTION_NAMES if n not in op_props]
    assert missing == []
    assert {"filepath", "image_name", "input_task_id"} <= set(op_props.keys())


def test_saved_setting_names_are_kept(props):
    """.blend files saved by 0.1.0 store these names; renaming one would silently reset the user's choice."""
    assert set(props.OPTION_NAMES) == {
        "ai_model", "model_type", "symmetry_mode", "pose_mode", "image_enhancement", "moderation", "auto_size",
        "origin_at", "should_texture", "enable_pbr", "hd_texture", "remove_lighting", "texture_prompt",
        "texture_image_url", "should_remesh", "topology", "target_polycount", "save_pre_remeshed_model",
        "multi_view_thumbnails", "alpha_thumbnail", "format_extra", "webhook_url"}


def test_saved_enum_values_keep_their_order(props, clean_scene):
    """A .blend stores an enum setting by its item's position: reordering choices would change saved choices."""
    rna = type(clean_scene.meshy).bl_rna.properties
    assert {name: [i.identifier for i in rna[name].enum_items] for name in props.OPTION_NAMES
            if rna[name].type == "ENUM"} == {
        "ai_model": ["latest", "meshy-6", "meshy-5"], "model_type": ["standard", "lowpoly"],
        "symmetry_mode": ["auto", "on", "off"], "pose_mode": ["NONE", "a-pose", "t-pose"],
        "origin_at": ["bottom", "center"], "should_remesh": ["DEFAULT", "ON", "OFF"],
        "topology": ["triangle", "quad"]}


# --- one declaration, every derived form ------------------------------------------------------------

# A setting value that breaks each rule, keyed by the option the rule looks at (Blender form), and the
# values that make a rule hold where the default does not.
BREAKS = {"should_texture": False, "ai_model": "meshy-5", "auto_size": False, "should_remesh": "OFF"}
HOLDS = {"auto_size": True}


def _cli_parser():
    from scripts import _cli

    ap = argparse.ArgumentParser()
    _cli.add_common(ap)
    return {a.dest: a for a in ap._actions}


def _check_blender_property(prop, spec, scene_value, props):
    kind = {bool: "BOOLEAN", int: "INT", str: "STRING", list: "BOOLEAN"}[spec.type]
    if (spec.choices and spec.type is str) or props._tri_state(spec):
        kind = "ENUM"
    assert prop.type == kind, spec.name
    if spec.type is list:
        assert spec.description in prop.description and prop.default is False
        return
    assert prop.name == spec.label and prop.description == spec.description, spec.name
    if kind == "ENUM" and props._tri_state(spec):
        assert [i.identifier for i in prop.enum_items] == ["DEFAULT", "ON", "OFF"] and prop.default == "DEFAULT"
    elif kind == "ENUM":
        assert [i.identifier for i in prop.enum_items] == [v or "NONE" for v in spec.values], spec.name
        assert [i.name for i in prop.enum_items] == [c.label for c in spec.choices], spec.name
        assert prop.default == (spec.server_default or "NONE"), spec.name
    elif kind == "INT":
        assert (prop.hard_min, prop.hard_max) == spec.range and prop.default == spec.server_default, spec.name
    elif kind == "STRING":
        assert prop.default == "", spec.name  # length_max counts C's terminating byte
        assert prop.length_max == (spec.max_length + 1 if spec.max_length else 0), spec.name
    else:
        assert prop.default == spec.server_default, spec.name
    assert scene_value == prop.default


def _check_cli_flag(action, spec):
    assert action.option_strings[0] == "--" + spec.name.replace("_", "-"), spec.name
    assert action.default is None, spec.name  # not given: Meshy's default
    assert action.help.replace("%%", "%") == spec.description, spec.name
    if spec.type is bool:
        assert isinstance(action, argparse.BooleanOptionalAction), spec.name
    elif spec.type is int:
        assert action.type is int and action.metavar == f"{spec.range[0]}..{spec.range[1]}", spec.name
    elif spec.type is list:
        assert action.type("glb, obj") == ["glb", "obj"], spec.name
    elif spec.choices and not spec.open_choices:
        assert list(action.choices) == list(spec.values), spec.name


def _check_rules(props, name, spec):
    """The panel greys the setting exactly while one of its rules is broken, and to_options leaves it out."""
    changed = {name: not props.blender_default(spec)} if spec.type in (bool, list) else {}
    if spec.type is int:
        changed = {name: spec.range[0]}
    elif spec.type is str and spec.choices:
        changed = {name: next(v or "NONE" for v in spec.values if v != spec.server_default)}
    elif spec.type is str:
        changed = {name: "https://example.com/x.png" if "url" in name else "oak"}
    if props._tri_state(spec):
        changed = {name: "ON"}
    needs = {r.option: HOLDS[r.option] for r in spec.rules if r.option in HOLDS}
    on = settings(props, **changed, **needs)
    assert props.inactive_reasons(on)[name] == "", name
    assert spec.name in props.to_options(on), name
    for rule in spec.rules:
        assert rule.option in BREAKS, f"the test needs a value that breaks {rule.key}"
        off = settings(props, **changed, **{**needs, rule.option: BREAKS[rule.option]})
        assert props.inactive_reasons(off)[name] == rule.hint, name
        assert spec.name not in props.to_options(off), name
    if spec.kinds != ("image-to-3d", "multi-image-to-3d"):
        assert props.inactive_reasons(on, multi=True)[name], name
        assert spec.name not in props.to_options(on, multi=True), name
    else:
        assert props.inactive_reasons(on, multi=True)[name] == "", name


def test_every_option_field_has_its_property_tooltip_flag_and_rule(props, options, clean_scene):
    """Walks options.py: a new documented option there must show up everywhere with the same facts."""
    import bpy

    scene_rna = type(clean_scene.meshy).bl_rna.properties
    op_rna = bpy.ops.meshy.image_to_3d.get_rna_type().properties
    flags = _cli_parser()
    fields = options.panel_fields()
    assert {f.name for f in fields} | {"image_url", "input_task_id", "image_urls"} == set(options.OPTION_FIELDS)
    for spec in fields:
        name = props.setting_name(spec)
        assert name in scene_rna, f"no Blender property for {spec.name}"
        _check_blender_property(scene_rna[name], spec, getattr(clean_scene.meshy, name), props)
        assert op_rna[name].description == scene_rna[name].description, name
        if spec.type is int:  # the operator's copy: soft limits only, so scripts get Meshy's message
            assert (op_rna[name].soft_min, op_rna[name].soft_max) == spec.range
        assert spec.name in flags, f"no command-line flag for {spec.name}"
        _check_cli_flag(flags[spec.name], spec)
        _check_rules(props, name, spec)


@pytest.mark.parametrize(("model", "texture", "credits"), [("latest", True, 30), ("meshy-5", False, 5)])
def test_cost_follows_the_credit_table(meshy, capfd, model, texture, credits):
    """The operator's report and the job record price a job with meshy/pricing.py, the one credit table."""
    import bpy
    from workflow_support import png_file

    s = bpy.context.scene.meshy
    s.ai_model, s.should_texture = model, texture
    assert bpy.ops.meshy.image_to_3d(filepath=str(png_file(meshy.tmp, "cost"))) == {"FINISHED"}
    assert f"~{credits} credits" in capfd.readouterr().out
    assert meshy.api.jobs()[0].view.credits == credits


class _Recorder:
    """Stands in for the UILayout a panel gets (none exists outside a window's draw): records what is drawn."""

    def __init__(self, drawn, enabled=True):
        self.drawn, self.enabled = drawn, enabled
        self.use_property_split = self.use_property_decorate = False

    def column(self, **_kw):
        return _Recorder(self.drawn, self.enabled)

    row = column

    def prop(self, data, name, **_kw):
        self.drawn.append((name, self.enabled))

    def label(self, text="", **_kw):
        self.drawn.append((text, self.enabled))


def test_panel_draws_every_option_in_its_group_greyed_by_its_rules(props, options, clean_scene):
    ui = importlib.import_module(MODULE + ".blender.ui")
    s = clean_scene.meshy
    s.ai_model, s.should_texture, s.should_remesh, s.source = "meshy-5", False, "OFF", "REFERENCES"
    for group in options.GROUPS:
        drawn = []
        ui.draw_options(_Recorder(drawn), s, group)
        names = [n for n, _ in drawn if n in props.BY_SETTING]
        assert names == [props.setting_name(f) for f in options.panel_fields(group)]
        reasons = props.inactive_reasons(s, multi=True)
        for name, enabled in drawn:
            if name in props.BY_SETTING:
                assert enabled == (reasons[name] == ""), name
    greyed = {n for n, r in props.inactive_reasons(s, multi=True).items() if r}
    assert greyed == {"model_type", "image_enhancement", "origin_at", "enable_pbr", "hd_texture", "remove_lighting",
                      "texture_prompt", "texture_image_url", "topology", "target_polycount",
                      "save_pre_remeshed_model"}
