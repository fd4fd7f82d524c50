"""batch.py's follow-ups (--then-remesh N, --lods N,N,...), run as a user runs it: each model of the run gets
its Remesh jobs, each landing as its own asset in the library, sent once however often the batch is run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_batch_library import batch_cmd, converters_alive, leftovers

from scripts.bench_batch import make_photos

ROOT = Path(__file__).resolve().parents[2]

REPORT = r"""
import bpy, json, sys
from pathlib import Path
models = {}
for blend in sorted(Path(sys.argv[-1]).glob("*/model.blend")):
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    (asset,) = [c for c in bpy.data.collections if c.asset_data]
    triangles = 0
    for obj in asset.all_objects:
        if obj.type == "MESH":
            obj.data.calc_loop_triangles()
            triangles += len(obj.data.loop_triangles)
    props = next((dict(o.items()) for o in asset.all_objects if "meshy_job_id" in o), {})
    models[asset.name] = {"triangles": triangles, "description": asset.asset_data.description,
                          "catalog": asset.asset_data.catalog_id,
                          "props": {k: str(v) for k, v in props.items() if k.startswith("meshy_")}}
print("REPORT " + json.dumps(models))
"""


def assets(library: Path) -> dict:
    """Asset name -> its triangles, description, catalog and meshy_* properties, from each model.blend."""
    result = subprocess.run([sys.executable, "-c", REPORT, str(library)], capture_output=True, text=True,
                            timeout=300)
    line = next((x for x in result.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(line[len("REPORT "):])


def catalog_paths(library: Path) -> dict[str, str]:
    """UUID -> catalog path, from the library's blender_assets.cats.txt."""
    lines = (lib_line.split(":") for lib_line in (library / "blender_assets.cats.txt").read_text().splitlines())
    return {parts[0]: parts[1] for parts in lines if len(parts) == 3}


def run(cmd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tasks(srv, kind: str) -> list:
    with srv.lock:
        return [t for t in srv.tasks.values() if t.kind == kind]


def photo_tasks(srv) -> dict[str, str]:
    """Task id -> the photo's name, of every Image to 3D task."""
    return {t.id: f"photo{i:04d}" for i, t in enumerate(sorted(tasks(srv, "image-to-3d"), key=lambda t: t.seq))}


@pytest.fixture
def photos(tmp_path):
    return make_photos(tmp_path / "photos", 2, size=32)


def test_then_remesh_adds_a_remesh_asset_beside_each_model_once(tmp_path, photos, make_server):
    srv = make_server(task_seconds=0.3)
    lib = tmp_path / "library"
    cmd = batch_cmd(photos, lib, srv, "--then-remesh", 2000)
    result = run(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sources = {t.id for t in tasks(srv, "image-to-3d")}
    remeshes = tasks(srv, "remesh")
    assert len(sources) == 2 and len(remeshes) == 2 and srv.stats()["creates"] == 4
    assert sorted(t.derived["request"]["input_task_id"] for t in remeshes) == sorted(sources), "one per model"
    assert all(t.derived["request"]["target_polycount"] == 2000 for t in remeshes)
    assert "2 models and 2 follow-ups" in result.stdout
    assert "follow-ups sent in this run: Remesh: 10 credits (2 x 5)" in result.stdout
    assert " 4/4 " in result.stdout, "the bar counts the follow-ups"

    found, paths = assets(lib), catalog_paths(lib)
    assert sorted(found) == ["photo0000", "photo0000 / remesh 2k", "photo0001", "photo0001 / remesh 2k"]
    for name in ("photo0000", "photo0001"):
        remesh, source = found[f"{name} / remesh 2k"], found[name]
        assert abs(remesh["triangles"] - 2000) <= 100, remesh
        assert source["triangles"] > 4000, "the source model is kept as it was"
        assert remesh["props"]["meshy_operation"] == "remesh"
        assert remesh["props"]["meshy_source_task_id"] == source["props"]["meshy_task_id"]
        assert f"Remesh of {name} (task " in remesh["description"], remesh["description"]
        assert paths[remesh["catalog"]] == "Meshy/photos/Remesh" and paths[source["catalog"]] == "Meshy/photos"
    assert leftovers(tmp_path) == []

    again = run(cmd)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert srv.stats()["creates"] == 4, "a re-run sends no follow-up twice"
    assert "follow-ups sent in this run: none (0 credits)" in again.stdout
    assert len(list(lib.glob("*/model.blend"))) == 4


def test_lods_land_as_lod0_to_lodn_per_model_and_a_rerun_adds_nothing(tmp_path, photos, make_server):
    srv = make_server(task_seconds=0.3)
    lib = tmp_path / "library"
    cmd = batch_cmd(photos, lib, srv, "--lods", "1000,300")
    result = run(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    remeshes = tasks(srv, "remesh")
    assert len(remeshes) == 4 and srv.stats()["creates"] == 6
    by_source: dict[str, list[int]] = {}
    for t in remeshes:
        by_source.setdefault(t.derived["request"]["input_task_id"], []).append(t.derived["request"]["target_polycount"])
    assert {k: sorted(v) for k, v in by_source.items()} == {k: [300, 1000] for k in photo_tasks(srv)}
    assert "follow-ups sent in this run: Remesh: 20 credits (4 x 5)" in result.stdout
    found, paths = assets(lib), catalog_paths(lib)
    assert len(found) == 6
    for name in ("photo0000", "photo0001"):
        assert abs(found[f"{name} / LOD0 1k"]["triangles"] - 1000) <= 60, found[f"{name} / LOD0 1k"]
        assert abs(found[f"{name} / LOD1 300"]["triangles"] - 300) <= 30, found[f"{name} / LOD1 300"]
        assert paths[found[f"{name} / LOD1 300"]["catalog"]] == "Meshy/photos/LODs"

    again = run(cmd)
    assert again.returncode == 0, again.stdout[-3000:]
    assert srv.stats()["creates"] == 6 and len(list(lib.glob("*/model.blend"))) == 6


def test_a_batch_killed_while_its_follow_ups_run_resumes_them_without_sending_any_twice(tmp_path, photos,
                                                                                      make_server):
    srv = make_server(task_seconds=2.0, keepalive_seconds=0.5)
    lib = tmp_path / "library"
    cmd = batch_cmd(photos, lib, srv, "--then-remesh", 1500)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen, deadline = [], time.monotonic() + 300
    while time.monotonic() < deadline:  # both models in, both their Remesh jobs sent and running
        line = proc.stdout.readline()
        seen.append(line)
        if not line or (" done 2 " in line and " running 2 " in line):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert " running 2 " in seen[-1], "".join(seen[-20:])
    end = time.monotonic() + 10
    while converters_alive(str(tmp_path)) and time.monotonic() < end:
        time.sleep(0.1)
    assert len(list(lib.glob("*/model.blend"))) == 2, "killed before the follow-ups landed"

    result = run(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert srv.stats()["creates"] == 4, "each Remesh paid once"
    assert "2 item(s) already in library: skipped; 2 resumed" in result.stdout
    assert "follow-ups sent in this run: none (0 credits)" in result.stdout, "carried on, not sent again"
    found = assets(lib)
    assert sorted(found) == ["photo0000", "photo0000 / remesh 1.5k", "photo0001", "photo0001 / remesh 1.5k"]


def test_a_failed_follow_up_is_listed_and_its_model_kept(tmp_path, photos, make_server):
    """The models are in; Meshy then no longer has their tasks (deleted): each Remesh is refused, listed
    with Meshy's reason, the exit is non-zero, and the models stay."""
    srv = make_server(task_seconds=0.3)
    lib = tmp_path / "library"
    assert run(batch_cmd(photos, lib, srv)).returncode == 0
    with srv.lock:
        for t in srv.tasks.values():
            t.deleted = True
    result = run(batch_cmd(photos, lib, srv, "--then-remesh", 500))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 item(s) failed" in result.stdout
    for name in ("photo0000.png remesh", "photo0001.png remesh"):
        line = next(x for x in result.stdout.splitlines() if x.strip().startswith(name + ":"))
        assert "input_task_id" in line or "not found" in line, line
    assert "2 models and 0 follow-ups" in result.stdout
    assert sorted(assets(lib)) == ["photo0000", "photo0001"]


@pytest.mark.parametrize("args, message", [
    (("--then-remesh", "50"), "--then-remesh: '50' is not a polycount Meshy takes: a whole number from 100 to 300,000"),
    (("--lods", "1000,abc"), "--lods: 'abc' is not a polycount"),
    (("--lods", "400000"), "from 100 to 300,000"),
    (("--then-remesh", "1000,200"), "use --lods 1000,200"),
])
def test_a_bad_polycount_exits_2_saying_what_is_wrong(tmp_path, photos, args, message):
    result = subprocess.run([sys.executable, "scripts/batch.py", str(photos), "--out", str(tmp_path / "lib"), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "lib").exists()
