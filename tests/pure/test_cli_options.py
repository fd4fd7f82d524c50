"""demo/batch flags come from meshy/options.py and are checked as the add-on checks them, before Blender starts."""

import argparse

import pytest

from scripts import _cli


def parse(*argv):
    ap = argparse.ArgumentParser()
    _cli.add_common(ap)
    return ap.parse_args(list(argv))


def test_only_given_flags_become_options():
    assert _cli.options_from(parse()) == {}
    args = parse("--enable-pbr", "--no-remove-lighting", "--target-polycount", "5000",
                 "--target-formats", "glb, obj", "--pose-mode", "", "--webhook-url", "https://h.example.com/x")
    assert _cli.options_from(args) == {"enable_pbr": True, "remove_lighting": False, "target_polycount": 5000,
                                       "target_formats": ["glb", "obj"], "pose_mode": "",
                                       "webhook_url": "https://h.example.com/x"}


@pytest.mark.parametrize(("argv", "words"), [
    (["--ai-model", "meshy-5", "--hd-texture"], ["--hd-texture", "meshy-6", "meshy-5"]),
    (["--no-should-texture", "--enable-pbr"], ["--enable-pbr", "should_texture"]),
    (["--target-polycount", "50"], ["--target-polycount", "100", "300,000"]),
    (["--origin-at", "center"], ["--origin-at", "auto_size"]),
    (["--texture-prompt", "x" * 601], ["--texture-prompt", "600"]),
    (["--target-formats", "glb,gltf"], ["--target-formats", "gltf"]),
])
def test_bad_combinations_are_refused_with_the_flag_named(argv, words):
    with pytest.raises(SystemExit) as info:
        _cli.options_from(parse(*argv))
    for word in words:
        assert word in str(info.value), info.value


def test_fixed_choices_are_argparse_choices(capsys):
    with pytest.raises(SystemExit):
        parse("--topology", "ngon")
    assert "quad" in capsys.readouterr().err
