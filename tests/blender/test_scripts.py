"""The main job and the batch tool, run as a user runs them (subprocesses, real HTTP, real Blender)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_support import TEST_KEY, png_file

ROOT = Path(__file__).resolve().parents[2]
BLENDER = Path(sys.prefix).name.removeprefix("bpy-")  # the Blender version of this tier's venv


def run_script(args, **kw):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, **kw)


@pytest.fixture
def photos(tmp_path, addon):
    """Ten generated photos: eight single ones and one sub-folder with two views."""
    import bpy
    from workflow_support import make_image, save_image

    folder = tmp_path / "photos"
    (folder / "teapot").mkdir(parents=True)
    for i in range(8):
        img = make_image(f"photo{i}", 48 + i, 40)
        save_image(img, folder / f"photo{i}.png")
        bpy.data.images.remove(img)
    for view in ("front", "side"):
        img = make_image(view, 40, 40)
        save_image(img, folder / "teapot" / f"{view}.png")
        bpy.data.images.remove(img)
    return folder


def test_demo_makes_blend_and_render(tmp_path, addon):
    out = tmp_path / "out"
    result = run_script(
        ["scripts/demo.py", "--blender", BLENDER, "--task-seconds", "1", "--samples", "2", "--out", out,
         "--enable-pbr", "--ai-model", "meshy-6"],
        env={k: v for k, v in os.environ.items() if not k.startswith("MESHY_")},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "demo.blend").stat().st_size > 0
    assert (out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("task ") and "triangles" in summary and "demo.blend" in summary
    assert TEST_KEY not in result.stdout + result.stderr


def test_demo_failure_exits_nonzero_with_message(tmp_path, make_server, addon):
    srv = make_server(task_seconds=0.2)
    photo = png_file(tmp_path, "fails")
    result = run_script(
        ["scripts/demo.py", "--blender", BLENDER, "--api-key", TEST_KEY, "--api-base", srv.url,
         "--image", photo, "--out", tmp_path / "out", "--texture-prompt", "[fail:image_too_complex]"],
        timeout=600,
    )
    assert result.returncode != 0
    assert "demo: failed" in result.stderr and "complex" in result.stderr.lower()
    assert not (tmp_path / "out" / "demo.blend").exists()


def _library(path: Path) -> dict:
    code = (
        "import bpy, json, sys\n"
        f"bpy.ops.wm.open_mainfile(filepath={str(path)!r})\n"
        "print(json.dumps({c['meshy_item']: [bool(c.asset_data), c.preview is not None, len(c.objects)]"
        " for c in bpy.data.collections if 'meshy_item' in c}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_batch_with_interruption_never_pays_twice(tmp_path, photos, make_server):
    srv = make_server(task_seconds=1.5, keepalive_seconds=0.5)
    lib = tmp_path / "library.blend"
    cmd = [sys.executable, "scripts/batch.py", photos, "--out", lib, "--jobs", "3", "--blender", BLENDER,
           "--api-key", TEST_KEY, "--api-base", srv.url]
    proc = subprocess.Popen(list(map(str, cmd)), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # interrupt once a few models are in and others are running
        line = proc.stdout.readline()
        if " done 3 " in line or " done 4 " in line:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    creates_before = srv.stats()["creates"]
    assert 3 <= creates_before <= 9, "the interruption should come in the middle"

    result = run_script(cmd[1:], timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert srv.stats()["creates"] == 9  # 8 photos + 1 two-view folder: each paid exactly once
    lib_items = _library(lib)
    assert len(lib_items) == 9, (lib_items, result.stdout[-3000:])
    assert all(asset and preview and count >= 1 for asset, preview, count in lib_items.values())
    assert lib_items["teapot/"][0]


def test_batch_lists_failures_and_exits_nonzero(tmp_path, make_server, addon):
    srv = make_server(task_seconds=0.2)
    folder = tmp_path / "p"
    folder.mkdir()
    png_file(folder, "good")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = run_script(
        ["scripts/batch.py", folder, "--out", tmp_path / "lib.blend", "--blender", BLENDER,
         "--api-key", TEST_KEY, "--api-base", srv.url],
        timeout=600,
    )
    assert result.returncode == 1
    assert "1 item(s) failed" in result.stdout and "broken.png" in result.stdout
