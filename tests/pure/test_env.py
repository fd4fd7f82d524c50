"""The test matrix and its environments (scripts/_env.py, scripts/_chroot.py), without installing anything."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import _chroot  # noqa: E402
import _env  # noqa: E402


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def test_the_matrix_is_one_list_oldest_first():
    versions = list(_env.BLENDER_VERSIONS)
    assert versions == sorted(versions, key=version_key) and len(set(versions)) == len(versions)
    assert versions[0].startswith("4.2."), "the oldest Blender the manifest claims"
    manifest = (ROOT / "blender_manifest.toml").read_text()
    assert re.search(r'blender_version_min = "4\.2\.0"', manifest)
    for b in _env.BLENDERS:
        assert _env.ENVS[b.env][0] == f"bpy=={b.version}" and b.numpy in _env.ENVS[b.env]
    newest_on_host = max((b.version for b in _env.BLENDERS if b.python == _env.HOST_PYTHON), key=version_key)
    assert newest_on_host == _env.HOST_BLENDER


def test_readme_lists_exactly_the_versions_tested():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Supported Blender versions", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| (\d+\.\d+\.\d+) ", table, flags=re.M)
    assert listed == list(_env.BLENDER_VERSIONS)
    for b in _env.BLENDERS:
        assert re.search(rf"^\| {re.escape(b.version)} .*\| {re.escape(b.python)} \|", table, flags=re.M), b


def test_environments_for_another_python_go_to_the_debian_root():
    for b in _env.BLENDERS:
        py = _env.python_of(b.env)
        if b.python == _env.HOST_PYTHON:
            assert py.is_relative_to(_env.VENVS)
        else:
            assert py == _chroot.launcher(b.env) and py.is_relative_to(ROOT / "build")


@pytest.mark.skipif(not shutil.which("flock") or not sys.platform.startswith("linux"), reason="needs flock(1)")
def test_the_lock_is_not_taken_twice_under_flock(tmp_path):
    """`flock /tmp/gui-tier.lock python3 scripts/test.py` must not deadlock when the tier installs."""
    lock = tmp_path / "gui-tier.lock"
    code = (f"import sys; from pathlib import Path; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import _chroot; "
            f"_chroot.LOCK = Path({str(lock)!r})\nwith _chroot.gui_lock(): print('inside', flush=True)")
    out = subprocess.run(["flock", str(lock), sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "inside", out.stderr
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert alone.stdout.strip() == "inside", "and taken when not held"


def _installed_chroot_env():
    if _chroot.unavailable_reason():
        return None
    for b in _env.BLENDERS:
        stamp = _chroot.GB_ROOT / _chroot.INNER_VENVS.lstrip("/") / b.env / _chroot.STAMP
        if b.python != _env.HOST_PYTHON and stamp.is_file() and _chroot.launcher(b.env).is_file():
            return b
    return None


def test_the_launcher_behaves_like_a_python_here(tmp_path):
    """Arguments (spaces, non-ASCII), the working folder and the environment arrive as given; /tmp is shared."""
    b = _installed_chroot_env()
    if b is None:
        pytest.skip("no Python 3.13 environment installed in the Debian root (the Blender tier makes one)")
    work = tmp_path / "Café 椅子"
    work.mkdir()
    code = ("import json, os, sys; open('written.txt', 'w').write('x'); "
            "print(json.dumps([sys.argv[1:], os.getcwd(), os.environ.get('MESHY_PROBE'), sys.version_info[:2]]))")
    out = subprocess.run([str(_chroot.launcher(b.env)), "-c", code, "a b", "Ñ 椅"], cwd=work, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "MESHY_PROBE": "secret value"})
    assert out.returncode == 0, out.stderr
    args, cwd, probe, version = json.loads(out.stdout.strip().splitlines()[-1])
    assert args == ["a b", "Ñ 椅"] and cwd == str(work) and probe == "secret value"
    assert tuple(version) == version_key(b.python)
    assert (work / "written.txt").read_text() == "x", "the same /tmp inside and out"
