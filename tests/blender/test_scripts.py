"""The main job, run as a user runs it (subprocesses, real HTTP, real Blender); batch: test_batch_library.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workflow_support import TEST_KEY, png_file

ROOT = Path(__file__).resolve().parents[2]
BLENDER = Path(sys.prefix).name.removeprefix("bpy-")  # the Blender version of this tier's venv


def run_script(args, **kw):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, **kw)


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
