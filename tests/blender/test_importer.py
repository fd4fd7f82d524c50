"""The installed add-on's importer in real Blender: collection, cursor, selection, tags, modes,
PBR node links with colour spaces, maps added from texture_files, bad files leaving bpy.data as it was,
and one undo step."""

import base64
import importlib
import json
import os
import urllib.request

import bl_support
import bpy
import glb_factory
import pytest
from checks import assert_fully_wired, bsdf_of, data_names, emission_input, feeder, image_behind, space

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"


@pytest.fixture
def imp(addon):
    return importlib.import_module(bl_support.MODULE + ".blender.importer")


@pytest.fixture
def glb(tmp_path):
    return glb_factory.write_glb(tmp_path / "model.glb")


@pytest.fixture
def scene(clean_scene):
    return clean_scene


def run(imp, path, **kw):
    kw.setdefault("name", "Photo")
    return imp.import_model(bpy.context, path, **kw)


# --------------------------------------------------------------------------- PBR wiring


def test_glb_maps_wired_with_colour_spaces(imp, scene, glb):
    objs = run(imp, glb)
    bsdf = bsdf_of(next(o for o in objs if o.type == "MESH"))
    assert_fully_wired(bsdf)
    sep, out_m = feeder(bsdf, "Metallic")
    sep2, out_r = feeder(bsdf, "Roughness")
    assert sep == sep2 and sep.type in ("SEPARATE_COLOR", "SEPRGB")  # one packed glTF texture
    assert (out_m, out_r) in (("Blue", "Green"), ("B", "G"))


def test_missing_maps_come_from_texture_files(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "base_only.glb", maps=("base_color",))
    files = {
        k: glb_factory.write_png(tmp_path / f"{k}.png", k) for k in ("metallic", "roughness", "normal", "emission")
    }
    objs = run(imp, path, texture_files=files)
    bsdf = bsdf_of(objs[0])
    assert_fully_wired(bsdf)
    for name, key in (("Metallic", "metallic"), ("Roughness", "roughness")):
        tex, out = feeder(bsdf, name)
        assert (tex.type, out) == ("TEX_IMAGE", "Color")
        assert os.path.samefile(bpy.path.abspath(tex.image.filepath), files[key])
    nmap, _ = feeder(bsdf, "Normal")
    assert os.path.samefile(bpy.path.abspath(image_behind(nmap).image.filepath), files["normal"])
    tex, _ = feeder(bsdf, emission_input(bsdf))
    assert os.path.samefile(bpy.path.abspath(tex.image.filepath), files["emission"])


def test_untextured_material_gets_base_colour(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "plain.glb", maps=())
    files = {"base_color": glb_factory.write_png(tmp_path / "base.png", "base_color")}
    bsdf = bsdf_of(run(imp, path, texture_files=files)[0])
    tex, _ = feeder(bsdf, "Base Color")
    assert space(tex) == "sRGB" and os.path.samefile(bpy.path.abspath(tex.image.filepath), files["base_color"])
    assert not bsdf.inputs["Normal"].is_linked and not bsdf.inputs["Metallic"].is_linked


def test_embedded_maps_win_over_texture_files(imp, scene, glb, tmp_path):
    keys = importlib.import_module(bl_support.MODULE + ".blender.pbr").MAP_KEYS
    files = {k: glb_factory.write_png(tmp_path / f"{k}.png", k) for k in keys}
    bsdf = bsdf_of(run(imp, glb, texture_files=files)[0])
    images = [n for n in bsdf.id_data.nodes if n.type == "TEX_IMAGE"]
    assert len(images) == 4 and all(n.image.packed_file is not None for n in images)


def test_unreadable_extra_map_is_skipped(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "base_only.glb", maps=("base_color",))
    bad = tmp_path / "normal.png"
    bad.write_bytes(b"not a png")
    bsdf = bsdf_of(run(imp, path, texture_files={"normal": str(bad), "metallic": str(tmp_path / "gone.png")})[0])
    assert not bsdf.inputs["Normal"].is_linked and not bsdf.inputs["Metallic"].is_linked


# --------------------------------------------------------------------------- placement, selection, tags


def test_own_collection_named_after_input(imp, scene, glb):
    first = run(imp, glb, name="Teapot photo")
    second = run(imp, glb, name="Teapot photo")
    c1, c2 = bpy.data.collections["Teapot photo"], bpy.data.collections["Teapot photo.001"]
    assert c1.name in scene.collection.children and c2.name in scene.collection.children
    assert set(c1.objects) == set(first) and set(c2.objects) == set(second)
    assert all(o.users_collection == (c1,) for o in first)
    assert not scene.collection.objects


def test_at_cursor_keeps_hierarchy(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "tree.glb", parent=True)
    base = {o.type: tuple(o.location) for o in run(imp, path, at_cursor=False)}
    scene.cursor.location = (10.0, -4.0, 2.5)
    objs = {o.type: o for o in run(imp, path)}
    root, model = objs["EMPTY"], objs["MESH"]
    assert model.parent == root
    assert tuple(root.location) == pytest.approx((1 + 10.0, 2 - 4.0, 3 + 2.5))
    assert tuple(model.location) == pytest.approx(base["MESH"])
    bpy.context.view_layer.update()
    offset = model.matrix_world.translation - root.matrix_world.translation
    assert tuple(offset) == pytest.approx((0.0, 0.0, 0.5))


def test_default_places_model_at_cursor(imp, scene, glb):
    scene.cursor.location = (3.0, 2.0, 1.0)
    (obj,) = run(imp, glb)
    assert tuple(obj.location) == pytest.approx((3.0, 2.0, 1.0 + 0.5))


def test_only_new_objects_selected_main_mesh_active(imp, scene, tmp_path):
    old = bl_support.add_cube()
    path = glb_factory.write_glb(tmp_path / "tree.glb", parent=True)
    objs = run(imp, path)
    assert not old.select_get()
    assert all(o.select_get() for o in objs)
    active = bpy.context.view_layer.objects.active
    assert active in objs and active.type == "MESH"


def test_main_object_named_after_the_photo(imp, scene, glb):
    """Issue 10, defect 5: the GLB's node name ("Model") gives way to the job's label, as the collection."""
    (first,) = run(imp, glb, name="chair")
    assert (first.name, first.data.name) == ("chair", "chair")
    (second,) = run(imp, glb, name="chair")
    assert second.name == "chair.001" and second.users_collection[0].name == "chair.001"
    assert not [o for o in bpy.data.objects if o.name.startswith("Model")]


def _export_multi_part_glb(path) -> None:
    """A GLB as Blender's own exporter writes one: a root empty, a small and a large mesh with the
    node names Meshy's files use ("mesh_0", then a ".001" copy)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    root = bpy.data.objects.new("Root", None)
    bpy.context.scene.collection.objects.link(root)
    for name, size in (("mesh_0", 1), ("mesh_0", 6)):
        bpy.ops.mesh.primitive_grid_add(x_subdivisions=size + 1, y_subdivisions=size + 1, size=size)
        obj = bpy.context.active_object
        obj.name, obj.parent = name, root
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    bpy.ops.wm.read_homefile(use_empty=True)


def test_multi_part_model_largest_mesh_is_the_main_object(imp, scene, tmp_path):
    path = tmp_path / "parts.glb"
    _export_multi_part_glb(path)
    objs = run(imp, str(path), name="sofa")
    meshes = sorted((o for o in objs if o.type == "MESH"), key=lambda o: len(o.data.polygons))
    assert len(objs) == 3 and len(meshes) == 2
    largest = meshes[-1]
    assert largest.name == "sofa" and largest.data.name == "sofa"
    assert bpy.context.view_layer.objects.active == largest
    others = sorted(o.name for o in objs if o is not largest)
    assert others == ["sofa_Root", "sofa_mesh_0"], others
    assert all(o.name.startswith("sofa") for o in objs), "every part found by the photo's name"


def test_tags_on_objects_and_collection(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "tree.glb", parent=True)
    tags = {"meshy_job_id": "job-1", "meshy_task_id": "task-9"}
    objs = run(imp, path, name="Tagged", tags=tags)
    for holder in [*objs, bpy.data.collections["Tagged"]]:
        assert {k: holder[k] for k in tags} == tags


def test_target_collection_and_scene(imp, scene, glb):
    other = bpy.data.scenes.new("Other")
    shelf = bpy.data.collections.new("Shelf")
    other.collection.children.link(shelf)
    objs = run(imp, glb, name="Into shelf", scene_name="Other", collection_name="Shelf")
    coll = bpy.data.collections["Into shelf"]
    assert coll.name in shelf.children and set(coll.objects) == set(objs)
    assert all(o.name in other.objects and o.name not in scene.objects for o in objs)
    assert other.view_layers[0].objects.active in objs


def test_deleted_collection_falls_back_to_scene_root(imp, scene, glb):
    gone = bpy.data.collections.new("Gone")
    scene.collection.children.link(gone)
    bpy.data.collections.remove(gone)
    run(imp, glb, name="Fallback", collection_name="Gone")
    assert "Fallback" in scene.collection.children


def test_collection_of_another_scene_is_not_used(imp, scene, glb):
    other = bpy.data.scenes.new("Other")
    elsewhere = bpy.data.collections.new("Elsewhere")
    other.collection.children.link(elsewhere)
    run(imp, glb, name="Here", collection_name="Elsewhere")
    assert "Here" in scene.collection.children and not elsewhere.children


def test_deleted_scene_falls_back_to_current(imp, scene, glb):
    doomed = bpy.data.scenes.new("Doomed")
    bpy.data.scenes.remove(doomed)
    objs = run(imp, glb, name="Current", scene_name="Doomed")
    assert all(o.name in scene.objects for o in objs)


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mode", ["EDIT", "SCULPT", "TEXTURE_PAINT", "VERTEX_PAINT"])
def test_imports_from_any_mode(imp, scene, glb, mode):
    cube = bl_support.add_cube()
    bpy.ops.object.mode_set(mode=mode)
    assert cube.mode == mode
    objs = run(imp, glb)
    assert cube.mode == "OBJECT" and bpy.context.mode == "OBJECT"
    assert bpy.context.view_layer.objects.active in objs


def test_failure_in_edit_mode_restores_mode_and_selection(imp, scene, tmp_path):
    cube = bl_support.add_cube()
    bpy.ops.object.mode_set(mode="EDIT")
    path = glb_factory.write_glb(tmp_path / "empty.glb", mesh=False)
    with pytest.raises(imp.ImportFailed):
        run(imp, path)
    assert cube.mode == "EDIT" and bpy.context.view_layer.objects.active == cube and cube.select_get()


# --------------------------------------------------------------------------- bad files


def _corrupt_json(data: bytes) -> bytes:
    """Same length, valid GLB header, broken JSON: only the glTF importer itself can notice."""
    return data[:20] + b"{" * 8 + data[28:]


BAD_FILES = {
    "missing": None,
    "empty": b"",
    "not_glb": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "truncated": lambda: glb_factory.make_glb()[:700],
    "corrupt_json": lambda: _corrupt_json(glb_factory.make_glb()),
    "no_mesh": lambda: glb_factory.make_glb(mesh=False),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_leaves_data_unchanged(imp, scene, glb, tmp_path, kind):
    run(imp, glb, name="Earlier")  # some data already there, which must survive untouched
    cube = bl_support.add_cube()
    before = data_names()
    content = BAD_FILES[kind]
    path = tmp_path / f"{kind}.glb"
    if content is not None:
        path.write_bytes(content() if callable(content) else content)
    with pytest.raises(imp.ImportFailed) as err:
        run(imp, str(path), texture_files={"normal": glb_factory.write_png(tmp_path / "n.png", "normal")})
    assert err.value.user_message and "again" in err.value.user_message
    assert data_names() == before
    assert bpy.context.view_layer.objects.active == cube and cube.select_get()


def test_no_mesh_message(imp, scene, tmp_path):
    path = glb_factory.write_glb(tmp_path / "empty.glb", mesh=False)
    with pytest.raises(imp.ImportFailed, match="has no mesh"):
        run(imp, path)


# --------------------------------------------------------------------------- the local Meshy server


def _http(url, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    req.add_header("Authorization", f"Bearer {TEST_KEY}")
    if body:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def test_model_from_local_meshy_server(imp, scene, meshy_server, tmp_path):
    image = "data:image/png;base64," + base64.b64encode(glb_factory.png((30, 90, 200), 32)).decode()
    body = {"image_url": image, "enable_pbr": True, "ai_model": "meshy-6"}
    task_id = json.loads(_http(meshy_server.url + "/openapi/v1/image-to-3d", body))["result"]
    task = json.loads(_http(f"{meshy_server.url}/openapi/v1/image-to-3d/{task_id}"))
    assert task["status"] == "SUCCEEDED"
    glb = tmp_path / "model.glb"
    glb.write_bytes(_http(task["model_urls"]["glb"]))
    files = {}
    for key, url in task["texture_urls"][0].items():
        files[key] = str(tmp_path / f"{key}.png")
        (tmp_path / f"{key}.png").write_bytes(_http(url))
    objs = run(imp, str(glb), name="Server model", texture_files=files, tags={"meshy_task_id": task_id})
    mesh = next(o for o in objs if o.type == "MESH")
    assert len(mesh.data.polygons) > 100 and mesh["meshy_task_id"] == task_id
    assert_fully_wired(bsdf_of(mesh))


# --------------------------------------------------------------------------- undo (last: creates the undo stack)


def test_one_undo_step_removes_import(imp, scene, glb):
    cube = bl_support.add_cube().name
    bpy.ops.ed.undo_push(message="before import")  # background Blender has no undo stack until a push
    before = data_names()
    run(imp, glb, name="Undoable")
    assert "Undoable" in bpy.data.collections
    bpy.ops.ed.undo()
    assert data_names() == before
    assert "Undoable" not in bpy.data.collections and cube in bpy.data.objects
