"""The API key lives in the add-on preferences (userpref.blend), never in a saved .blend."""

import os

import bl_support
import bpy

SECRET = "msy-test-only-not-a-real-key-0123456789"


def _prefs():
    return bpy.context.preferences.addons[bl_support.MODULE].preferences


def test_key_field_is_password_and_url_has_default(addon):
    props = type(_prefs()).bl_rna.properties
    assert props["api_key"].subtype == "PASSWORD"
    assert props["api_base_url"].default == "https://api.meshy.ai"


def test_environment_wins(addon, monkeypatch):
    a = addon.blender.addon
    _prefs().api_key = "msy-from-prefs"
    _prefs().api_base_url = "https://example.invalid"
    monkeypatch.delenv("MESHY_API_KEY", raising=False)
    monkeypatch.delenv("MESHY_API_BASE_URL", raising=False)
    assert a.api_key() == "msy-from-prefs"
    assert a.base_url() == "https://example.invalid"
    monkeypatch.setenv("MESHY_API_KEY", "msy-from-env")
    monkeypatch.setenv("MESHY_API_BASE_URL", "http://127.0.0.1:9/")
    assert a.api_key() == "msy-from-env"
    assert a.base_url() == "http://127.0.0.1:9"
    _prefs().api_base_url = "https://api.meshy.ai"


def test_test_key_button(addon):
    _prefs().api_key = ""
    assert bpy.ops.meshy.use_test_key() == {"FINISHED"}
    assert _prefs().api_key == "msy_dummy_api_key_for_test_mode_12345678"


def test_key_saved_in_preferences_never_in_blend(addon, tmp_path):
    _prefs().api_key = SECRET
    bpy.ops.wm.save_userpref()
    userpref = os.path.join(os.environ["BLENDER_USER_RESOURCES"], "config", "userpref.blend")
    with open(userpref, "rb") as f:
        assert SECRET.encode() in f.read()
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False)
    assert SECRET.encode() not in blend.read_bytes()
    _prefs().api_key = ""
