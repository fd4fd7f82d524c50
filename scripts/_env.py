"""Project environments: virtual environments with pinned tools, created on demand.

Every script that needs Blender or the dev tools calls ensure(); it is quick when
everything is already in place (a stamp file records what was installed).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"

PYTEST = "pytest==9.2.0"
PYTEST_TIMEOUT = "pytest-timeout==2.4.0"
RUFF = "ruff==0.17.5"
MYPY = "mypy==2.4.1"
# Stubs of the oldest Blender we claim: code that type-checks against them uses no newer API.
FAKE_BPY = "fake-bpy-module-4-2==20260730"
NUMPY = "numpy==1.26.4"  # what Blender 4.2-5.0 bundle; glTF import relies on it

# The oldest Blender we claim (newest 4.2 LTS wheel) and the newest wheel for Python 3.11.
BLENDER_VERSIONS = ("4.2.23", "5.0.1")

ENVS: dict[str, list[str]] = {
    "dev": [PYTEST, PYTEST_TIMEOUT, RUFF],
    # Its own environment: the fake bpy must never be importable where the pure tier runs.
    "types": [MYPY, FAKE_BPY, NUMPY],
    **{f"bpy-{v}": [f"bpy=={v}", NUMPY, PYTEST, PYTEST_TIMEOUT] for v in BLENDER_VERSIONS},
}


def python_of(name: str) -> Path:
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENVS / name / sub


def _log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def ensure(name: str) -> Path:
    """Create or update the named environment; return its python."""
    reqs = ENVS[name]
    folder = VENVS / name
    stamp = folder / ".meshy-stamp"
    want = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    py = python_of(name)
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py
    if sys.version_info[:2] != (3, 11):
        _log(f"warning: running under Python {sys.version.split()[0]}; the bpy wheels need 3.11")
    _log(f"installing {name}: {' '.join(reqs)} (first time only; Blender wheels are ~370 MB)")
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs], check=True
    )
    stamp.write_text(want)
    return py


def blender_ext_tool(bpy_env: str = f"bpy-{BLENDER_VERSIONS[-1]}") -> Path:
    """Blender's own extension tool, shipped inside the bpy wheel."""
    py = ensure(bpy_env)
    site = next((py.parent.parent / "lib").glob("python3*/site-packages"), None)
    if site is None:  # Windows layout
        site = py.parent.parent / "Lib" / "site-packages"
    hits = sorted(site.glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not hits:
        raise SystemExit(f"blender_ext.py not found in {site}")
    return hits[-1]
