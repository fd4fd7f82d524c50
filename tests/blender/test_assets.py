"""The model library is a Blender asset library (issue 12): every model.blend holds one asset with a
preview, a catalog, tags and a description; appending it as the Asset Browser does gives the model
with wired PBR materials; the Asset Libraries entry appears on the button's click and only then."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import bl_support
import bpy
import glb_factory
import numpy as np
import pytest
from checks import assert_fully_wired, bsdf_of
from workflow_support import png_file

PBR = {"enable_pbr": True, "ai_model": "meshy-6"}
# "Append (Reuse Data)"; Blender 5.x refuses it for a library (its enum offers Link, Append, Pack): Pack there
METHOD = "APPEND_REUSE" if bpy.app.version < (5, 0, 0) else "PACK"


def _module(name):
    return importlib.import_module(f"{bl_support.MODULE}.{name}")


def load_asset(blend: Path):
    """The asset collections of a model.blend, appended into a fresh file (as the Asset Browser reads them)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(str(blend), assets_only=True) as (source, target):
        names = [str(name) for name in source.collections]
        target.collections = list(names)
    return names, list(target.collections)


def preview_pixels(coll) -> np.ndarray:
    preview = coll.preview
    assert preview is not None, f"{coll.name} has no preview"
    width, height = preview.image_size
    assert width > 0 and height > 0, "the preview is empty"
    px = np.empty(width * height * 4, dtype=np.float32)
    preview.image_pixels_float.foreach_get(px)
    return px.reshape(height, width, 4)


def assert_real_picture(px: np.ndarray) -> None:
    """Not blank: something opaque, and more than one colour in it."""
    assert px[..., 3].max() > 0.5, "the preview is transparent everywhere"
    assert px[..., :3].std() > 0.02, "the preview is one flat colour"


def catalog_rows(library: Path) -> dict[str, str]:
    catalogs = _module("jobs.catalogs")
    version, found = catalogs.parse((library / catalogs.CATS_FILE).read_text(encoding="utf-8"))
    assert version == 1
    return {path: cat.uuid for path, cat in found.items()}


# --------------------------------------------------------------------------- jobs -> assets


def test_every_job_gives_one_asset_with_preview_catalog_tags_and_description(meshy):
    """Two jobs at once (their converters write the catalog file together): one Image to 3D, one Multi-Image."""
    library = meshy.tmp / "library"
    chair = png_file(meshy.tmp, "chair")
    front, side = png_file(meshy.tmp, "lamp front", width=40), png_file(meshy.tmp, "lamp side", width=56)
    single = meshy.api.submit_image(str(chair), **PBR)
    multi = meshy.api.submit_images([str(front), str(side)], label="Lamp")
    for job in (single, multi):
        meshy.api.wait(job, timeout=120)
    rows = catalog_rows(library)
    assert set(rows) == {"Meshy"}, rows
    expected = {
        single.id: ("chair", ["meshy", "image-to-3d", "meshy-6", "chair"], [chair]),
        multi.id: ("Lamp", ["meshy", "multi-image-to-3d", "latest", "lamp front", "lamp side"], [front, side]),
    }
    for job in (single, multi):
        view = job.view
        label, tags, photos = expected[job.id]
        folder = Path(view.folder)
        assert folder.parent == library
        names, (coll,) = load_asset(folder / "model.blend")
        assert names == [label], "one asset: the model's collection"
        data = coll.asset_data
        assert data is not None
        assert [t.name for t in data.tags] == tags
        assert data.catalog_id == rows["Meshy"]
        text = data.description
        assert view.task_id in text and f"Credits: {view.credits}" in text, text
        assert ("ai_model=meshy-6" in text and "enable_pbr=True" in text) if job is single else "Meshy defaults" in text
        assert time.strftime("%Y-%m-%d", time.gmtime(view.created)) in text, text
        assert_real_picture(preview_pixels(coll))
        kept = [folder / name for name in sorted(p.name for p in folder.glob("input_*"))]
        assert [p.read_bytes() for p in kept] == [p.read_bytes() for p in photos], "the source photos, kept beside it"


def test_a_batch_catalog_and_a_rendered_preview_when_there_is_no_thumbnail(meshy):
    """ConvertRequest.catalog (what batch code passes) and a job target's "catalog" give the sub-catalog."""
    conv, worker = _module("jobs.converter"), _module("jobs.convert_worker")
    journal = _module("jobs.journal")
    library = meshy.tmp / "lib"
    folder = library / "Vase-1a2b3c4d"
    (folder / "textures").mkdir(parents=True)
    glb_factory.write_glb(folder / "model.glb", maps=glb_factory.ALL_MAPS, cells=16)
    rec = journal.JobRecord(id="job-vase", kind="image-to-3d", label="Vase", task_id="task-vase",
                            folder=str(folder), input_names=["/photos/vase.jpg"], credits=30,
                            target={"catalog": "Spring shoot: 2026/03"})
    request = worker.request_for(rec)
    assert request.catalog == ("Meshy", "Spring shoot: 2026/03") and "vase" in request.asset_tags
    launcher = conv.Launcher(blender=bpy.app.binary_path, python=sys.executable)
    conv.Conversion(launcher, request).run()
    rows = catalog_rows(library)
    assert set(rows) == {"Meshy", "Meshy/Spring shoot- 2026-03"}
    _, (coll,) = load_asset(folder / "model.blend")
    assert coll.asset_data.catalog_id == rows["Meshy/Spring shoot- 2026-03"]
    px = preview_pixels(coll)
    assert px.shape == (256, 256, 4)
    assert_real_picture(px)
    alpha = px[..., 3]
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 0, "the background stays transparent"
    assert alpha[96:160, 96:160].mean() > 0.9, "the model fills the middle of the picture"
    assert {"CAMERA", "LIGHT"}.isdisjoint({o.type for o in coll.all_objects})
    log = (folder / "convert.log").read_text()
    assert "Meshy: no thumbnail; the preview was rendered" in log
    assert "Meshy: setting the preview with 1 Python thread(s) running" in log


# --------------------------------------------------------------------------- appending, as the Asset Browser does


def test_appending_the_asset_with_reuse_data_gives_the_wired_model(meshy):
    path = png_file(meshy.tmp, "stool")
    job = meshy.api.submit_image(str(path), **PBR)
    meshy.api.wait(job, timeout=120)
    blend = Path(job.view.folder) / "model.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    for _ in range(2):  # the import method "Append (Reuse Data)": the second model shares the first's data
        result = bpy.ops.wm.append(filepath=f"{blend}/Collection/stool", directory=f"{blend}/Collection/",
                                   filename="stool", do_reuse_local_id=True, instance_collections=False,
                                   clear_asset_data=True)
        assert result == {"FINISHED"}
    colls = [c for c in bpy.data.collections if c.name.startswith("stool")]
    assert len(colls) == 2
    meshes = [o for c in colls for o in c.objects if o.type == "MESH"]
    assert len(meshes) == 2 and meshes[0] != meshes[1]
    for mesh in meshes:
        assert_fully_wired(bsdf_of(mesh))
    assert len({m.data for m in meshes}) == 1 and len(bpy.data.materials) == 1, "data reused, not copied"
    for image in bpy.data.images:
        assert image.packed_file is not None and image.size[0] > 0 and len(image.pixels) > 0, image.name
    assert all(c.asset_data is None for c in colls), "an appended model is ordinary data, not a second asset"
    assert {m.name for m in meshes} <= set(bpy.context.scene.objects.keys())


# --------------------------------------------------------------------------- the Asset Libraries entry


def libraries():
    return [(lib.name, lib.path, lib.import_method) for lib in bpy.context.preferences.filepaths.asset_libraries]


def test_enabling_the_add_on_leaves_the_asset_libraries_alone(addon):
    before = libraries()
    assert not any(name == "Meshy" for name, _, _ in before)
    bpy.ops.preferences.addon_disable(module=bl_support.MODULE)
    bpy.ops.preferences.addon_enable(module=bl_support.MODULE)
    assert bl_support.MODULE in bpy.context.preferences.addons
    assert libraries() == before


def test_the_preferences_change_only_on_the_buttons_click(meshy):
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    before = libraries()
    assert not any(name == "Meshy" for name, _, _ in before)
    job = meshy.api.submit_image(str(png_file(meshy.tmp, "bench")))
    meshy.api.wait(job, timeout=120)
    assert libraries() == before, "running a job"
    first = meshy.tmp / "library"
    prefs.library_dir = str(meshy.tmp / "elsewhere")
    prefs.library_dir = str(first)
    assert libraries() == before, "changing the library folder"
    try:
        added = meshy.api.add_asset_library()
        assert added.change == "added" and Path(added.path) == first
        assert libraries() == [*before, ("Meshy", str(first), METHOD)]
        assert bpy.context.preferences.is_dirty and added.saved_note
        assert meshy.api.add_asset_library().change == "unchanged"
        assert bpy.ops.meshy.add_asset_library() == {"FINISHED"}
        assert libraries() == [*before, ("Meshy", str(first), METHOD)], "a second click adds nothing"
        second = meshy.tmp / "moved library"
        prefs.library_dir = str(second)
        assert libraries() == [*before, ("Meshy", str(first), METHOD)], "the folder changed: no click yet"
        assert _module("blender.asset_library").status(bpy.context) == "moved"
        assert bpy.ops.meshy.add_asset_library() == {"FINISHED"}
        assert libraries() == [*before, ("Meshy", str(second), METHOD)], "the click updates the path"
        assert second.is_dir()
        assert _module("blender.asset_library").status(bpy.context) == "current"
    finally:
        libs = bpy.context.preferences.filepaths.asset_libraries
        if "Meshy" in libs:
            libs.remove(libs["Meshy"])
        prefs.library_dir = str(first)


def test_a_users_own_entry_for_the_folder_is_used_not_doubled(meshy):
    libs = bpy.context.preferences.filepaths.asset_libraries
    library = meshy.tmp / "library"
    library.mkdir(exist_ok=True)
    mine = libs.new(name="My scans", directory=str(library) + "/")
    mine.import_method = "LINK"
    count = len(libs)
    try:
        result = meshy.api.add_asset_library()
        assert result.name == "My scans" and len(libs) == count
        assert mine.import_method == METHOD
    finally:
        libs.remove(libs["My scans"])


@pytest.mark.parametrize("where", ["panel", "preferences"])
def test_the_button_is_drawn_in_the_panel_and_the_preferences(meshy, where):
    """The draw code runs (headless: no window) and names the operator; state drawn from the entry."""
    ui, asset_library = _module("blender.ui"), _module("blender.asset_library")
    assert asset_library.status(bpy.context) == "missing"
    drawn = []

    class Recorder:
        def column(self, **_kw):
            return self

        def box(self):
            return self

        def operator(self, idname, **kw):
            drawn.append(("operator", idname))

        def label(self, text="", **kw):
            drawn.append(("label", text))

    if where == "panel":
        ui.draw_jobs(Recorder(), bpy.context)
    else:
        asset_library.draw(Recorder(), bpy.context)
    assert ("operator", "meshy.add_asset_library") in drawn
