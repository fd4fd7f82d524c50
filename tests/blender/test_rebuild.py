"""Rebuild Library in real Blender: version 0.1's library folders (model.glb, maps, thumbnail, inputs;
no model.blend) become model.blend assets in background Blenders, by the operator, the API and the
first use at startup; resumable after a SIGKILL; a corrupt GLB is listed with its reason while the
others convert; nothing is requested from Meshy and the scene is not touched. And the look-ups:
a job's asset (model.blend, name) and the job of an asset.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import bl_support
import bpy
import pytest
from checks import bsdf_of
from test_recovery import proc  # noqa: F401  (fixture)
from test_wired import converters, wait_for
from workflow_support import TEST_KEY, png_file

HERE = Path(__file__).resolve().parent
CHILD = HERE / "child_rebuild.py"
V01_FILES = {"model.glb", "thumbnail.png", "input_0.png"}  # + textures/<map>.png: what version 0.1 wrote
V01_MAPS = ("base_color", "metallic", "roughness", "normal", "emission")  # textures/<map>.png in 0.1
NEWER = ("model.blend", "model.blend.json", "convert.log")  # what the converter adds since


def _module(name):
    return importlib.import_module(f"{bl_support.MODULE}.{name}")


def landed_job(m, name="chair", **options):
    """A job run to the end through the local server, in this Blender."""
    job = m.api.submit_image(str(png_file(m.tmp, name)), enable_pbr=True, **options)
    m.api.wait(job, timeout=180)
    return job


def as_v01(folder: str | Path) -> Path:
    """Make a job folder exactly what version 0.1 left: remove what the converter wrote since."""
    folder = Path(folder)
    for name in NEWER:
        (folder / name).unlink(missing_ok=True)
    names = {p.name for p in folder.iterdir() if p.is_file()}
    assert names == V01_FILES, names
    assert {p.name for p in (folder / "textures").iterdir()} <= {f"{m}.png" for m in V01_MAPS}
    return folder


def copy_as_v01(folder: Path, library: Path, name: str) -> Path:
    """A 0.1 folder no journal of this Blender names (a library copied from another machine)."""
    dest = library / name
    shutil.copytree(folder, dest)
    return as_v01(dest)


def scene_state() -> list:
    return sorted((o.name, tuple(round(v, 5) for v in o.location), o.get("meshy_job_id", ""))
                  for o in bpy.data.objects)


def append_asset(blend: str, name: str):
    """What the Asset Browser does on a drop (Append): the named asset from the file, into the scene."""
    with bpy.data.libraries.load(blend, link=False, assets_only=True) as (source, target):
        assert name in source.collections, f"{name!r} is not an asset of {blend}: {list(source.collections)}"
        target.collections = [name]
    collection = target.collections[0]
    bpy.context.scene.collection.children.link(collection)
    return collection


def test_a_v01_folder_is_rebuilt_by_the_operator_and_its_asset_appends(meshy):
    conv = _module("jobs.converter")
    job = landed_job(meshy)
    folder = as_v01(job.view.folder)
    library = folder.parent
    other = copy_as_v01(folder, library, "lamp photo-0a0b0c0d")
    record = (meshy.runtime.user_folder("journal") / f"{job.id}.json").read_text()
    scene, requests = scene_state(), meshy.server.stats()["requests"]
    assert meshy.api.asset_for(job) is None, "no model.blend yet"

    assert bpy.ops.meshy.rebuild_library() == {"FINISHED"}
    run = meshy.runtime.engine().rebuild_status()
    assert run.wait(240)
    p = run.progress()
    assert (p.total, p.converted, p.failed, p.stopped) == (2, 2, (), ""), p
    assert meshy.server.stats()["requests"] == requests, "rebuilding asked Meshy for something"
    assert scene_state() == scene, "rebuilding changed the scene"
    assert (meshy.runtime.user_folder("journal") / f"{job.id}.json").read_text() == record

    blend, name = meshy.api.asset_for(job)
    assert Path(blend) == folder / "model.blend" and conv.finished_blend(folder)["collection"] == name
    orphan_blend = other / "model.blend"
    assert conv.finished_blend(other)["collection"] == "lamp photo"
    bpy.ops.wm.read_homefile(use_empty=True)
    collection = append_asset(blend, name)
    meshes = [o for o in collection.all_objects if o.type == "MESH"]
    assert meshes and all(o.material_slots for o in meshes)
    bsdf = bsdf_of(meshes[0])
    assert bsdf.inputs["Base Color"].links, "the material's base colour is wired"
    assert all(i.packed_file is not None for i in bpy.data.images if i.source == "FILE"), "images packed"

    # the look-ups, both ways
    assert meshy.api.job_for_asset(collection).id == job.id
    assert meshy.api.job_for_asset(meshes[0]).id == job.id
    assert meshy.api.job_for_asset(blend).id == job.id
    assert meshy.api.job_for_asset(folder).id == job.id
    assert meshy.api.job_for_asset(blend, name).id == job.id
    assert meshy.api.job_for_asset(blend, "another asset") is None
    assert meshy.api.job_for_asset(str(orphan_blend)) is None, "no job made the copied folder"
    with pytest.raises(ValueError, match="No job"):
        meshy.api.asset_for("0" * 32)


def test_the_api_rebuilds_and_lists_a_corrupt_glb_with_its_reason(meshy):
    conv = _module("jobs.converter")
    job = landed_job(meshy)
    folder = as_v01(job.view.folder)
    good = copy_as_v01(folder, folder.parent, "good-11111111")
    bad = copy_as_v01(folder, folder.parent, "broken-22222222")
    (bad / "model.glb").write_bytes(b"glTF\x02\x00\x00\x00" + b"\xff" * 200)
    requests = meshy.server.stats()["requests"]
    run = meshy.api.rebuild_library()
    assert meshy.api.rebuild_library() is run, "one run at a time"
    assert run.wait(240)
    p = run.progress()
    assert (p.total, p.converted) == (3, 2), p
    [failure] = p.failed
    assert Path(failure.folder) == bad and failure.label == "broken"
    assert "model.glb" in failure.reason and "corrupt" in failure.reason, failure.reason
    assert not (bad / "model.blend").exists()
    for f in (folder, good):
        assert conv.finished_blend(f)
    assert meshy.server.stats()["requests"] == requests
    again = meshy.api.rebuild_library()
    assert again is not run and again.wait(240)
    assert (again.progress().converted, again.progress().already, len(again.progress().failed)) == (0, 2, 1)


@pytest.mark.heavy
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_blender_killed_mid_rebuild_carries_on_at_its_next_start(proc, meshy):  # noqa: F811
    conv = _module("jobs.converter")
    job = landed_job(meshy, target_polycount=300000, should_remesh=True)  # a conversion of a few seconds
    source = as_v01(job.view.folder)
    library = proc.tmp / "v01 library"  # not the meshy fixture's (this Blender's) library
    library.mkdir()
    folders = [copy_as_v01(source, library, f"chair {n}-0000000{n}") for n in range(4)]  # 2 convert at once
    requests = proc.server.stats()["requests"]
    cmd = [sys.executable, str(CHILD), "--user", proc.user, "--zip", proc.zip, "--library", library]
    child = subprocess.Popen(list(map(str, cmd)), env=proc.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Killed once the first model is complete: mid-rebuild however fast this machine converts.
    wait_for(lambda: any((f / "model.blend").exists() for f in folders) or child.poll() is not None, timeout=240,
             what="the first converted model")
    child.kill()
    err = child.communicate(timeout=30)[1].decode(errors="replace")
    assert child.returncode == -signal.SIGKILL, (child.returncode, err[-3000:])
    wait_for(lambda: not converters(library), timeout=30, what="the converters to die with their Blender")
    complete = {}
    for f in folders:
        blend = f / "model.blend"
        if blend.exists():
            assert conv.finished_blend(f), "a model.blend that looks finished is complete"
            complete[f.name] = blend.stat().st_mtime_ns
    assert len(complete) < len(folders), "killed before the rebuild was over"

    res = subprocess.run(list(map(str, [*cmd, "--how", "startup"])), env=proc.env, capture_output=True, text=True,
                         timeout=400)
    assert res.returncode == 0, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert TEST_KEY not in res.stdout + res.stderr
    p = json.loads(res.stdout.strip().splitlines()[-1])
    assert (p["converted"], p["already"], p["failed"]) == (len(folders) - len(complete), len(complete), []), p
    for f in folders:
        assert conv.finished_blend(f)
        assert not list(f.glob("model.blend.*.part")), "no partial file left"
    assert {f.name: (f / "model.blend").stat().st_mtime_ns for f in folders if f.name in complete} == complete, \
        "a folder converted before the kill was converted again"
    assert proc.server.stats()["requests"] == requests, "rebuilding asked Meshy for something"
