"""The converter (a real background Blender child process) and the appender, in real Blender.

The appended model must equal what the in-process import gives; a killed converter never leaves a
model.blend; the child never sees the API key or proxy credentials; bad files give the importer's
messages and leave the scene as it was.
"""

import hashlib
import importlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import bl_support
import bpy
import glb_factory
import numpy as np
import pytest
from checks import assert_fully_wired, bsdf_of, data_names

TAGS = {"meshy_job_id": "job-42", "meshy_task_id": "task-0042"}
SECRET_KEY = "msy_SECRET_must_not_reach_the_child_7f3a9c"
PROXY_PASSWORD = "proxy-pass-Zq81"
FILLED_MAPS = ("metallic", "roughness", "normal", "emission")
MAP_INPUTS = ("Base Color", "Metallic", "Roughness", "Normal", "Emission Color", "Emission")


@pytest.fixture(scope="module")
def conv(addon):
    return importlib.import_module(bl_support.MODULE + ".jobs.converter")


@pytest.fixture(scope="module")
def app(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.append")


@pytest.fixture(scope="module")
def imp(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.importer")


def job_folder(tmp_path: Path, kind: str = "filled", name: str = "job", **glb) -> Path:
    """A library folder as the downloader leaves it: model.glb, thumbnail.png, textures/*.png."""
    folder = tmp_path / name
    (folder / "textures").mkdir(parents=True)
    maps = ("base_color",) if kind == "filled" else glb_factory.ALL_MAPS
    glb_factory.write_glb(folder / "model.glb", maps=maps, cells=glb.pop("cells", 24), **glb)
    if kind == "filled":
        for key in FILLED_MAPS:
            glb_factory.write_png(folder / "textures" / f"{key}.png", key)
    (folder / "thumbnail.png").write_bytes(glb_factory.png((20, 200, 40), 300))
    return folder


@pytest.fixture(scope="module")
def converted(conv, tmp_path_factory):
    """One converted job folder for the tests that only append from it (a child run costs seconds)."""
    folder = job_folder(tmp_path_factory.mktemp("converted"), "embedded")
    convert(conv, folder)
    return folder


def textures(folder: Path) -> dict:
    return {p.stem: str(p) for p in sorted((folder / "textures").glob("*.png"))}


def conversion(conv, folder: Path, label="Chair photo", **kw):
    launcher = conv.Launcher(blender=bpy.app.binary_path, python=sys.executable)
    request = conv.ConvertRequest(folder=str(folder), label=label, tags=TAGS, texture_files=textures(folder),
                                  dump_environment=kw.pop("dump", ""))
    return conv.Conversion(launcher, request, **kw)


def convert(conv, folder: Path, **kw):
    return conversion(conv, folder, **kw).run()


def fresh_scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


# --------------------------------------------------------------------------- what a model is made of


def _pixels(image) -> str:
    px = np.empty(len(image.pixels), dtype=np.float32)
    image.pixels.foreach_get(px)
    assert px.size > 0, f"{image.name} has no pixels"
    return hashlib.sha1(np.round(px, 4).tobytes()).hexdigest()


def _chain(socket):
    """Node types from a BSDF input back to its image, with the image's colour space and pixels."""
    out = []
    while socket is not None and socket.is_linked:
        link = socket.links[0]
        node = link.from_node
        out.append((node.type, link.from_socket.name))
        if node.type == "TEX_IMAGE":
            out.append((node.image.colorspace_settings.name, tuple(node.image.size), _pixels(node.image)))
            break
        socket = next((i for i in node.inputs if i.is_linked), None)
    return out


def signature(objects) -> list:
    """Everything that must match between the in-process import and the append."""
    out = []
    for obj in sorted(objects, key=lambda o: o.name):
        entry = {"name": obj.name, "type": obj.type, "location": tuple(round(v, 5) for v in obj.location),
                 "tags": {k: obj[k] for k in TAGS}, "parent": obj.parent.name if obj.parent else None}
        if obj.type == "MESH":
            obj.data.calc_loop_triangles()
            entry["triangles"] = len(obj.data.loop_triangles)
            bsdf = bsdf_of(obj)
            entry["links"] = {name: _chain(bsdf.inputs[name]) for name in MAP_INPUTS if name in bsdf.inputs}
        out.append(entry)
    return out


def model_images(objects):
    return {n.image for o in objects if o.type == "MESH" for s in o.material_slots
            for n in s.material.node_tree.nodes if n.type == "TEX_IMAGE"}


# --------------------------------------------------------------------------- the appended model


@pytest.mark.parametrize("kind", ["filled", "embedded"])
def test_appended_model_equals_in_process_import(conv, app, imp, clean_scene, tmp_path, kind):
    folder = job_folder(tmp_path, kind)
    result = convert(conv, folder)
    assert result.collection == "Chair photo" and result.triangles == 2 * 24 * 24
    assert result.peak_memory_mb is None or result.peak_memory_mb > 10

    scene = fresh_scene()
    scene.cursor.location = (4.0, -2.0, 1.0)
    imported = imp.import_model(bpy.context, str(folder / "model.glb"), name="Chair photo",
                                texture_files=textures(folder), tags=TAGS)
    expected = signature(imported)

    scene = fresh_scene()
    old = bl_support.add_cube()
    scene.cursor.location = (4.0, -2.0, 1.0)
    appended = app.append_model(bpy.context, str(folder))
    assert signature(appended) == expected
    assert_fully_wired(bsdf_of(next(o for o in appended if o.type == "MESH")))
    images = model_images(appended)
    assert len(images) >= 4 and all(i.packed_file is not None for i in images)
    coll = bpy.data.collections["Chair photo"]
    assert coll.name in scene.collection.children and set(coll.objects) == set(appended)
    assert {k: coll[k] for k in TAGS} == TAGS
    assert coll.asset_data is None and not coll.use_fake_user  # an ordinary collection, as imported
    assert tuple(appended[0].location) == pytest.approx((4.0, -2.0, 1.5))
    assert not old.select_get() and all(o.select_get() for o in appended)
    assert bpy.context.view_layer.objects.active in appended
    assert not bpy.data.libraries  # appended, not linked


def test_model_blend_is_an_asset_with_the_thumbnail_as_preview(converted, clean_scene):
    folder = converted
    with bpy.data.libraries.load(str(folder / "model.blend"), assets_only=True) as (source, target):
        assert source.collections == ["Chair photo"]
        target.collections = source.collections
    coll = target.collections[0]
    assert coll.asset_data is not None and "meshy" in coll.asset_data.tags
    preview = coll.preview
    assert preview is not None and tuple(preview.image_size) == (256, 256)
    px = np.empty(256 * 256 * 4, dtype=np.float32)
    preview.image_pixels_float.foreach_get(px)
    assert px[:4] == pytest.approx((20 / 255, 200 / 255, 40 / 255, 1.0), abs=0.01)
    assert all(i.packed_file is not None for i in bpy.data.images)  # the file stands alone


def test_appending_twice_gives_two_models(app, clean_scene, converted):
    folder = converted
    first = app.append_model(bpy.context, str(folder))
    second = app.append_model(bpy.context, str(folder))  # Import Again: no second conversion
    assert set(first).isdisjoint(second)
    assert {"Chair photo", "Chair photo.001"} <= set(bpy.data.collections.keys())


def test_link_places_one_instance(app, clean_scene, converted):
    folder = converted
    clean_scene.cursor.location = (1.0, 2.0, 3.0)
    (empty,) = app.append_model(bpy.context, str(folder), link=True)
    assert empty.instance_type == "COLLECTION" and empty.instance_collection.library is not None
    assert tuple(empty.location) == pytest.approx((1.0, 2.0, 3.0))
    assert empty.select_get() and bpy.context.view_layer.objects.active == empty
    assert len(bpy.data.libraries) == 1


def test_target_scene_and_collection(app, clean_scene, converted):
    folder = converted
    other = bpy.data.scenes.new("Other")
    shelf = bpy.data.collections.new("Shelf")
    other.collection.children.link(shelf)
    objects = app.append_model(bpy.context, str(folder), scene_name="Other", collection_name="Shelf")
    assert "Chair photo" in shelf.children and all(o.name in other.objects for o in objects)
    assert not any(o.name in clean_scene.objects for o in objects)
    assert other.view_layers[0].objects.active in objects


@pytest.mark.parametrize("mode", ["EDIT", "SCULPT", "VERTEX_PAINT"])
def test_appends_from_any_mode(app, clean_scene, converted, mode):
    folder = converted
    cube = bl_support.add_cube()
    bpy.ops.object.mode_set(mode=mode)
    objects = app.append_model(bpy.context, str(folder))
    assert cube.mode == "OBJECT" and bpy.context.mode == "OBJECT"
    assert bpy.context.view_layer.objects.active in objects


# --------------------------------------------------------------------------- refusals and rollback


def test_missing_or_partial_blend_is_refused(conv, app, clean_scene, tmp_path):
    folder = job_folder(tmp_path, "embedded")
    bl_support.add_cube()
    before = data_names()
    with pytest.raises(app.ImportFailed, match="does not exist"):
        app.append_model(bpy.context, str(folder))
    convert(conv, folder)
    blend = folder / "model.blend"
    whole = blend.read_bytes()
    blend.write_bytes(whole[: len(whole) // 2])  # cut short: the result JSON no longer matches it
    with pytest.raises(app.ImportFailed, match="incomplete"):
        app.append_model(bpy.context, str(folder))
    blend.write_bytes(whole)
    (folder / "model.blend.json").unlink()
    with pytest.raises(app.ImportFailed, match="no readable result"):
        app.append_model(bpy.context, str(folder))
    assert data_names() == before


def test_failed_append_leaves_no_data(conv, app, clean_scene, tmp_path):
    """A model.blend whose collection holds no mesh: everything appended is removed again."""
    folder = job_folder(tmp_path, "embedded")
    convert(conv, folder)
    fresh_scene()
    coll = bpy.data.collections.new("Chair photo")
    coll.objects.link(bpy.data.objects.new("Lonely empty", None))
    blend = folder / "model.blend"
    bpy.data.libraries.write(str(blend), {coll})
    info = json.loads((folder / "model.blend.json").read_text())
    info["blend_bytes"] = blend.stat().st_size
    (folder / "model.blend.json").write_text(json.dumps(info))
    scene = fresh_scene()
    cube = bl_support.add_cube()
    bpy.ops.object.mode_set(mode="EDIT")
    before = data_names()
    with pytest.raises(app.ImportFailed, match="has no mesh"):
        app.append_model(bpy.context, str(folder))
    assert data_names() == before and not scene.collection.children
    assert cube.mode == "EDIT" and bpy.context.view_layer.objects.active == cube


@pytest.mark.parametrize("kind", ["corrupt_json", "no_mesh", "truncated"])
def test_bad_glb_gives_the_importers_message(conv, app, imp, clean_scene, tmp_path, kind):
    folder = job_folder(tmp_path, "embedded")
    data = {"corrupt_json": lambda: (lambda d: d[:20] + b"{" * 8 + d[28:])(glb_factory.make_glb()),
            "no_mesh": lambda: glb_factory.make_glb(mesh=False),
            "truncated": lambda: glb_factory.make_glb()[:700]}[kind]()
    (folder / "model.glb").write_bytes(data)
    bl_support.add_cube()
    before = data_names()
    with pytest.raises(imp.ImportFailed) as in_process:
        imp.import_model(bpy.context, str(folder / "model.glb"), name="Chair photo")
    with pytest.raises(conv.ConvertFailed) as by_child:
        convert(conv, folder)
    assert by_child.value.user_message == in_process.value.user_message
    assert not (folder / "model.blend").exists()
    with pytest.raises(app.ImportFailed):
        app.append_model(bpy.context, str(folder))
    assert data_names() == before


# --------------------------------------------------------------------------- killed, stopped, too slow


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_sigkill_mid_run_leaves_no_model_blend_and_a_rerun_succeeds(conv, app, clean_scene, tmp_path):
    folder = job_folder(tmp_path, "embedded", cells=400)  # 320k triangles: the import takes a while
    job = conversion(conv, folder)
    job.start()
    log = folder / "convert.log"
    _wait_for(lambda: b"INFO" in log.read_bytes())  # the glTF importer is running
    os.kill(job.pid, signal.SIGKILL)
    with pytest.raises(conv.ConvertFailed, match="killed by signal 9"):
        job.wait()
    assert not (folder / "model.blend").exists() and not (folder / "model.blend.json").exists()
    (folder / "model.blend.999.part").write_bytes(b"BLENDER-v305 half a file")  # as if killed while saving
    with pytest.raises(app.ImportFailed, match="does not exist"):
        app.append_model(bpy.context, str(folder))
    result = convert(conv, folder)
    assert result.triangles == 2 * 400 * 400
    assert sorted(p.name for p in folder.glob("model.blend*")) == ["model.blend", "model.blend.json"]
    assert len(app.append_model(bpy.context, str(folder))) == 1


def test_sigkill_while_saving_never_leaves_a_model_blend_that_looks_finished(conv, app, clean_scene, tmp_path):
    folder = job_folder(tmp_path, "embedded", cells=400)
    job = conversion(conv, folder)
    job.start()
    _wait_for(lambda: any(folder.glob("model.blend.*")), timeout=120)  # the save has begun
    os.kill(job.pid, signal.SIGKILL)
    try:
        job.wait()
    except conv.ConvertFailed as exc:
        assert "killed by signal 9" in exc.message
        assert not (folder / "model.blend").exists()
        with pytest.raises(app.ImportFailed):
            app.append_model(bpy.context, str(folder))
    else:  # the kill came after the rename: then the file is whole
        assert conv.finished_blend(folder)["triangles"] == 2 * 400 * 400


def test_stop_kills_the_converter(conv, clean_scene, tmp_path):
    folder = job_folder(tmp_path, "embedded", cells=400)  # still converting when Stop comes at 0.3 s
    job = conversion(conv, folder)
    job.start()
    threading.Timer(0.3, job.stop).start()
    with pytest.raises(conv.ConvertFailed) as err:
        job.wait()
    assert err.value.stopped and "was stopped" in err.value.message
    assert not (folder / "model.blend").exists()


def test_time_limit_gives_a_clear_message(conv, clean_scene, tmp_path):
    folder = job_folder(tmp_path, "embedded", cells=400)  # seconds of work: a fast machine cannot beat 0.5 s
    with pytest.raises(conv.ConvertFailed) as err:
        convert(conv, folder, time_limit=0.5)
    assert err.value.timed_out and "took longer than 0.5 s" in err.value.message
    assert "longer than" in err.value.message and "Retry" in err.value.message
    assert not (folder / "model.blend").exists()


# --------------------------------------------------------------------------- secrets


def test_child_never_sees_the_api_key_or_proxy_credentials(conv, clean_scene, tmp_path, monkeypatch):
    proxy = f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:3128"
    monkeypatch.setenv("MESHY_API_KEY", SECRET_KEY)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.setenv("PYTHONPATH", proxy)  # credentials under an allowed name are dropped too
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    saved, prefs.api_key = prefs.api_key, SECRET_KEY  # the key in this Blender's preferences too
    folder = job_folder(tmp_path, "embedded")
    dump = tmp_path / "child.json"
    try:
        convert(conv, folder, dump=str(dump))
    finally:
        prefs.api_key = saved
    seen = json.loads(dump.read_text())
    assert seen["environ"]  # the dump is real
    assert not set(seen["environ"]) - conv.ENV_ALLOW - {
        "BLENDER_USER_RESOURCES", "HOME", "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
        "MATERIALX_SEARCH_PATH", "PXR_MTLX_STDLIB_SEARCH_PATHS"}  # the last two: set by bpy itself
    assert seen["environ"]["BLENDER_USER_RESOURCES"] != os.environ["BLENDER_USER_RESOURCES"]
    assert bl_support.MODULE not in seen["addons"] and not seen["online_access"]
    everything = [dump.read_bytes()] + [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    for secret in (SECRET_KEY, PROXY_PASSWORD):
        assert not any(secret.encode() in blob for blob in everything), secret


# --------------------------------------------------------------------------- undo (last: creates the undo stack)


def test_one_undo_step_removes_the_appended_model(app, clean_scene, converted):
    cube = bl_support.add_cube().name
    bpy.ops.ed.undo_push(message="before append")  # background Blender has no undo stack until a push
    before = data_names()
    app.append_model(bpy.context, str(converted))
    assert "Chair photo" in bpy.data.collections
    bpy.ops.ed.undo()
    assert data_names() == before
    assert "Chair photo" not in bpy.data.collections and cube in bpy.data.objects
