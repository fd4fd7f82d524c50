"""batch.py to an asset library folder, run as a user runs it (subprocesses, real HTTP, real Blender).

One model.blend per model from the engine's converters, the batch's own Blender holding none; a kill
in the middle and a re-run pay each photo once and put each model in the library once; Meshy-size
models keep the whole process tree's memory and the library's bytes on disk within bounds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bpy
import pytest
from workflow_support import TEST_KEY, png_file

from scripts.bench_batch import folder_bytes, make_photos, run_batch

ROOT = Path(__file__).resolve().parents[2]
BLENDER = Path(sys.prefix).name.removeprefix("bpy-")  # the Blender version of this tier's venv
# issue 12: the whole process tree, 30 photos of Meshy-size models. Blender 5.3's glTF importer peaks higher
# in the converters (2.2 GB for the tree measured here, two converting at once): its own bound.
PEAK_LIMIT_MB = 2048 if bpy.app.version < (5, 3, 0) else 2560
DISK_RATIO = 1.6  # issue 12: the library's bytes against the GLBs downloaded
ZSTD = b"\x28\xb5\x2f\xfd"  # a compressed .blend's first bytes
BATCH_BLENDER_MB = 600  # the bpy module with the add-on and its engine is ~300 MB; one 1M-triangle model ~400 more

REPORT = r"""
import bpy, json, sys
from pathlib import Path
library, index = Path(sys.argv[-2]), sys.argv[-1]
models = {}
for blend in sorted(library.glob("*/model.blend")):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    assets = [c for c in bpy.data.collections if c.asset_data]
    meshes = [o.data for c in assets for o in c.all_objects if o.type == "MESH"]
    models[blend.parent.name] = {
        "assets": [c.name for c in assets],
        "tags": sorted({t.name for c in assets for t in c.asset_data.tags}),
        "preview": all(c.preview is not None and c.preview.image_size[0] > 0 for c in assets),
        "polygons": sum(len(m.polygons) for m in meshes),
        "images": sorted((i.size[0], i.packed_file is not None) for i in bpy.data.images if i.source == "FILE"),
    }
linked = []
if index:
    bpy.ops.wm.open_mainfile(filepath=index)
    for obj in bpy.data.objects:
        coll = obj.instance_collection
        if coll is not None:
            linked.append({"name": obj.name, "library": bpy.path.abspath(coll.library.filepath) if coll.library else "",
                           "objects": len(coll.all_objects)})
print("REPORT " + json.dumps({"models": models, "index": linked, "local_meshes": sum(
    1 for m in bpy.data.meshes if m.library is None)}))
"""


def library_report(library: Path, index: Path | None = None) -> dict:
    """What Blender sees in each model.blend of the library, and in the index (a fresh process)."""
    result = subprocess.run([sys.executable, "-c", REPORT, str(library), str(index or "")],
                            capture_output=True, text=True, timeout=600)
    line = next((x for x in result.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(line[len("REPORT "):])


def batch_cmd(photos: Path, out: Path, srv, *extra) -> list[str]:
    return [sys.executable, "scripts/batch.py", str(photos), "--out", str(out), "--blender", BLENDER,
            "--api-key", TEST_KEY, "--api-base", srv.url, *map(str, extra)]


def converters_alive(marker: str) -> list[int]:
    """Processes whose command line names marker (a test's own folder): left-over converters."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    alive.append(int(entry))
            except OSError:
                pass
    return alive


def leftovers(root: Path) -> list[str]:
    """Second copies and backups: .blend1 files, GLBs, texture maps, partial files."""
    bad = [p for p in root.rglob("*") if p.suffix in (".blend1", ".glb", ".part") or p.parent.name == "textures"]
    return sorted(str(p.relative_to(root)) for p in bad)


@pytest.fixture
def photos(tmp_path):
    """Eight photos and a sub-folder with two views of one object (a Multi-Image job)."""
    folder = make_photos(tmp_path / "photos", 8, size=48)
    make_photos(folder / "teapot", 2, size=40)
    return folder


@pytest.mark.heavy
def test_a_killed_batch_resumes_paying_each_photo_once_and_each_model_lands_once(tmp_path, photos, make_server):
    srv = make_server(task_seconds=1.5, keepalive_seconds=0.5)
    lib, index = tmp_path / "library", tmp_path / "library.blend"
    cmd = batch_cmd(photos, lib, srv, "--jobs", 3, "--convert-jobs", 2, "--index", index)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen, deadline = [], time.monotonic() + 300
    while time.monotonic() < deadline:  # interrupt once some models are in and others convert or run
        line = proc.stdout.readline()
        seen.append(line)
        if not line or " done 3 " in line or " done 4 " in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    creates_before = srv.stats()["creates"]
    assert 3 <= creates_before <= 9, "the interruption should come in the middle: " + "".join(seen[-20:])
    assert any(" converting " in x and " ETA " in x for x in seen), "the bar counts conversions and shows the ETA"
    end = time.monotonic() + 10
    while converters_alive(str(tmp_path)) and time.monotonic() < end:
        time.sleep(0.1)  # a converter dies with the Blender that started it
    assert not converters_alive(str(tmp_path))

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert srv.stats()["creates"] == 9  # 8 photos + 1 two-view folder: each paid exactly once
    folders = sorted(p.name for p in lib.iterdir() if p.is_dir())
    assert len(folders) == 9, folders  # each model once in the library, no folder of a second try
    assert ":Meshy/photos:" in (lib / "blender_assets.cats.txt").read_text()  # the batch's own catalog
    report = library_report(lib, index)
    assert sorted(report["models"]) == folders
    for name, model in report["models"].items():
        assert len(model["assets"]) == 1 and model["preview"] and "meshy" in model["tags"], (name, model)
        assert model["polygons"] > 0 and model["images"] and all(packed for _, packed in model["images"]), model
    assert any(name.startswith("teapot-") for name in folders)
    records = [json.loads(p.read_text()) for p in (tmp_path / "library.meshy-batch").rglob("journal/*.json")]
    assert len(records) == 9 and {r["target"].get("catalog") for r in records} == {"photos"}  # the batch's name
    assert leftovers(tmp_path) == []  # no .blend1 anywhere, no GLB or map beside a model.blend
    assert {p.read_bytes()[:4] for p in lib.glob("*/model.blend")} == {ZSTD}  # saved compressed: half the disk
    linked = report["index"]
    assert len(linked) == 9 and report["local_meshes"] == 0  # links, no copies
    assert {Path(x["library"]).parent.name for x in linked} == set(folders)
    assert all(x["objects"] >= 1 for x in linked)
    assert index.stat().st_size < 5_000_000


def test_failures_are_listed_with_reasons_and_the_exit_is_non_zero(tmp_path, make_server, addon):
    srv = make_server(task_seconds=0.2)
    folder = tmp_path / "p"
    folder.mkdir()
    png_file(folder, "good")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    five = folder / "five"
    make_photos(five, 5, size=16)
    result = subprocess.run(batch_cmd(folder, tmp_path / "lib", srv), cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "2 item(s) failed" in result.stdout and "broken.png" in result.stdout
    assert "five/: 5 photos: Meshy takes 1 to 4 views" in result.stdout
    assert [p.parent.name.split("-")[0] for p in (tmp_path / "lib").glob("*/model.blend")] == ["good"]


def test_a_rerun_after_refused_creates_leaves_one_folder_per_model(tmp_path, make_server):
    """Meshy refused every create (no credits): nothing was paid, so the re-run sends them again and the
    library keeps no folder of the refused tries."""
    srv = make_server(task_seconds=0.2, test_key_credits=0)
    folder = tmp_path / "p"
    folder.mkdir()
    png_file(folder, "cup")
    png_file(folder, "mug", width=40)
    lib = tmp_path / "lib"
    first = subprocess.run(batch_cmd(folder, lib, srv), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 1 and "Not enough Meshy credits" in first.stdout, first.stdout[-3000:]
    assert len([p for p in lib.iterdir() if p.is_dir()]) == 2, "each refused job kept its photo"
    srv.state.test_key_credits = None  # credits bought
    again = subprocess.run(batch_cmd(folder, lib, srv), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    folders = sorted(p.name.split("-")[0] for p in lib.iterdir() if p.is_dir())
    assert folders == ["cup", "mug"], folders
    assert all((p / "model.blend").is_file() for p in lib.iterdir() if p.is_dir())
    assert srv.stats()["creates"] == 2


def test_out_must_be_a_folder_and_the_index_a_blend(tmp_path, photos):
    for args, message in (([photos, "--out", tmp_path / "lib.blend"], "add --index lib.blend"),
                          ([photos, "--out", tmp_path / "lib", "--index", tmp_path / "i.txt"], "--index must"),
                          ([photos, "--out", tmp_path / "lib", "--convert-jobs", "0"], "--convert-jobs must")):
        result = subprocess.run([sys.executable, "scripts/batch.py", *map(str, args)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "lib").exists()


def scale_run(tmp_path, make_server, count: int, triangles: int, texture_size: int) -> dict:
    srv = make_server(task_seconds=1.0, keepalive_seconds=0.5, triangles=triangles, texture_size=texture_size)
    photos = make_photos(tmp_path / "photos", count)
    lib = tmp_path / "library"
    figures = run_batch(photos, lib, srv.url, blender=BLENDER, jobs=4, convert_jobs=2, timeout=1800)
    assert figures["exit"] == 0, figures["output"][-3000:]
    assert srv.stats()["creates"] == count
    assert len(list(lib.glob("*/model.blend"))) == count
    glb = srv.stats()["built_bytes"]["model.glb"]
    figures["disk_over_glb"] = folder_bytes(lib)["bytes"] / glb
    assert leftovers(tmp_path) == []
    return figures


@pytest.mark.heavy
def test_a_batch_of_30_models_completes_within_memory_and_disk_bounds(tmp_path, make_server):
    """Issue 11/12 with smaller models, to keep the suite's time sane on two cores: 30 photos answered
    with 100k-triangle models with 512^2 maps complete; the batch's Blender does not grow with them. Meshy's
    own size (1M triangles, 2048^2) is test_meshy_size_models_stay_within_bounds below (three photos) and
    scripts/bench_batch.py (10, 30 and 100 photos)."""
    figures = scale_run(tmp_path, make_server, 30, 100_000, 512)
    assert figures["peak_tree_mb"] <= PEAK_LIMIT_MB, figures
    assert figures["peak_mb_by_kind"]["batch Blender"] <= BATCH_BLENDER_MB, figures
    assert figures["most_converters_at_once"] == 2, figures  # --convert-jobs 2: in parallel, and no more
    assert figures["disk_over_glb"] <= DISK_RATIO, figures


@pytest.mark.heavy
def test_meshy_size_models_stay_within_bounds(tmp_path, make_server):
    """Meshy's own size (1M triangles, three 2048^2 maps): three photos, two converting at once."""
    figures = scale_run(tmp_path, make_server, 3, 1_000_000, 2048)
    assert figures["peak_tree_mb"] <= PEAK_LIMIT_MB, figures
    assert figures["peak_mb_by_kind"]["batch Blender"] <= BATCH_BLENDER_MB, figures  # it never holds a model
    assert figures["disk_over_glb"] <= DISK_RATIO, figures


def test_no_operator_runs_beside_the_engines_threads(addon):
    """The batch's guard: an operator called while the engine runs fails at once, naming itself."""
    import bpy

    from scripts.batch_blender import NoOperators

    with NoOperators(), pytest.raises(RuntimeError, match=r"wm\.read_homefile"):
        bpy.ops.wm.read_homefile(use_empty=True)
    assert "FINISHED" in bpy.ops.wm.read_homefile(use_empty=True)  # given back afterwards
