"""The API key lives in the add-on preferences (userpref.blend), never in a saved .blend."""

import os
import time
from pathlib import Path

import bl_support
import bpy
import pytest
from mathutils import Vector
from workflow_support import png_file

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


# ---- preferences apply at once (issue 10, defect 4) -----------------------------------------------

def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def test_concurrent_jobs_applies_to_the_running_engine(meshy):
    prefs = _prefs()
    prefs.max_concurrent = 1
    try:
        meshy.server.task_seconds = 30.0  # the first job holds its slot for the whole test
        jobs = [meshy.api.submit_image(str(png_file(meshy.tmp, f"photo{i}"))) for i in range(3)]
        creates = lambda: meshy.server.stats()["creates"]  # noqa: E731
        _wait(lambda: creates() == 1 and sum(j.state == "queued" for j in jobs) == 2, 15, "one job in its slot")
        time.sleep(0.5)
        assert creates() == 1 and sum(j.state == "queued" for j in jobs) == 2, "one slot: two wait locally"
        prefs.max_concurrent = 3  # as the user changes it in Preferences, Blender still running
        _wait(lambda: creates() == 3, 8, "the queued jobs to start once the preference allows 3")
    finally:
        prefs.max_concurrent = 4


def test_library_folder_applies_to_the_next_job(meshy):
    first = meshy.api.submit_image(str(png_file(meshy.tmp, "before")))
    meshy.api.wait(first, timeout=60)
    assert Path(first.view.folder).parent == meshy.tmp / "library"
    _prefs().library_dir = str(meshy.tmp / "elsewhere")  # the running engine takes it at once
    second = meshy.api.submit_image(str(png_file(meshy.tmp, "after")))
    meshy.api.wait(second, timeout=60)
    assert Path(second.view.folder).parent == meshy.tmp / "elsewhere"
    assert Path(second.view.files["model"]).is_file() and Path(first.view.files["model"]).is_file()


def _roots(objects):
    return [o for o in objects if o.parent is None or o.parent not in objects]


def test_import_at_cursor_preference_is_obeyed(meshy):
    importer = __import__(f"{bl_support.MODULE}.blender.importer", fromlist=["x"])
    cursor = Vector((4.0, -3.0, 2.0))
    bpy.context.scene.cursor.location = cursor
    prefs = _prefs()
    placed = {}
    try:
        for on in (False, True):
            prefs.import_at_cursor = on
            job = meshy.api.submit_image(str(png_file(meshy.tmp, f"cursor_{on}")))
            (root,) = _roots(meshy.api.wait(job, timeout=60))
            placed[on] = Vector(root.location)
    finally:
        prefs.import_at_cursor = True
    model = job.view.files["model"]
    (as_in_file,) = _roots(importer.import_model(bpy.context, model, name="reference", at_cursor=False))
    assert tuple(placed[False]) == pytest.approx(tuple(as_in_file.location)), "off: at the world origin"
    assert tuple(placed[True]) == pytest.approx(tuple(as_in_file.location + cursor)), "on: at the 3D cursor"
