"""Project environments: virtual environments with pinned tools, created on demand.

Every script that needs Blender or the dev tools calls ensure(); it is quick when
everything is already in place (a stamp file records what was installed). A Blender
whose wheel needs another Python than this machine's runs inside the GUI tier's Debian
root (scripts/_chroot.py); python_of() then gives a launcher that behaves like a python.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"

PYTEST = "pytest==9.2.0"
PYTEST_TIMEOUT = "pytest-timeout==2.4.0"
RUFF = "ruff==0.17.5"
MYPY = "mypy==2.4.1"
# Stubs of the oldest Blender we claim: code that type-checks against them uses no newer API.
FAKE_BPY = "fake-bpy-module-4-2==20260730"
NUMPY_STUBS = "numpy==1.26.4"  # numpy's own annotations, for the type checker
HOST_PYTHON = "3.11"  # what this project's machines and CI have


@dataclass(frozen=True)
class Blender:
    version: str
    python: str  # the only Python its bpy wheel is built for (Blender's own bundled one)
    numpy: str  # the numpy it bundles; its glTF importer relies on it
    why: str  # who runs it

    @property
    def env(self) -> str:
        return f"bpy-{self.version}"


# The versions the Blender tier runs on, oldest first: what artists run (the manifest claims 4.2+).
BLENDERS = (
    Blender("4.2.23", "3.11", "numpy==1.26.4", "4.2 LTS, the oldest we claim (newest 4.2 wheel)"),
    Blender("4.5.15", "3.11", "numpy==1.26.4", "4.5 LTS, where studios sit (newest 4.5 wheel)"),
    Blender("5.2.3", "3.13", "numpy==2.5.5", "5.2 LTS, the studios' 5.x line (newest 5.2 wheel)"),
    Blender("5.3.0", "3.13", "numpy==2.5.5", "the newest release, where individual artists are"),
)
# Not 5.0.1 any more: 5.0 is no LTS and is superseded; its Python (3.11) is tested by 4.2 and 4.5 and
# its 5.x API by 5.2 and 5.3.
BLENDER_VERSIONS = tuple(b.version for b in BLENDERS)
# Blender for tools that run on this machine's Python (build, demo and batch by default): the newest.
HOST_BLENDER = [b.version for b in BLENDERS if b.python == HOST_PYTHON][-1]

ENVS: dict[str, list[str]] = {
    "dev": [PYTEST, PYTEST_TIMEOUT, RUFF],
    # Its own environment: the fake bpy must never be importable where the pure tier runs.
    "types": [MYPY, FAKE_BPY, NUMPY_STUBS],
    **{b.env: [f"bpy=={b.version}", b.numpy, PYTEST, PYTEST_TIMEOUT] for b in BLENDERS},
}


def blender(version: str) -> Blender:
    for b in BLENDERS:
        if b.version == version:
            return b
    raise SystemExit(f"unknown Blender {version}: choose one of {', '.join(BLENDER_VERSIONS)}")


def _foreign(name: str) -> Blender | None:
    """The Blender of an environment that needs another Python than the host's."""
    for b in BLENDERS:
        if b.env == name and b.python != HOST_PYTHON:
            return b
    return None


def unavailable_reason(name: str) -> str | None:
    """Why the environment cannot be set up on this machine, or None."""
    if _foreign(name):
        import _chroot

        reason = _chroot.unavailable_reason()
        return f"its wheel needs Python {_foreign(name).python}, which runs here only in {_chroot.GB_ROOT}: {reason}" \
            if reason else None
    return None


def python_of(name: str) -> Path:
    if _foreign(name):
        import _chroot

        return _chroot.launcher(name)
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return VENVS / name / sub


def _log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def current() -> str:
    """The name of the environment this interpreter belongs to ('' when it is none of ours)."""
    name = Path(sys.prefix).name
    return name if name in ENVS and sys.prefix != sys.base_prefix else ""


def ensure(name: str) -> Path:
    """Create or update the named environment; return its python."""
    if name == current():  # already inside it (e.g. a script run by the tier inside the Debian root)
        return Path(sys.executable)
    reqs = ENVS[name]
    foreign = _foreign(name)
    if foreign:
        import _chroot

        return _chroot.ensure(name, reqs, foreign.python)
    folder = VENVS / name
    stamp = folder / ".meshy-stamp"
    want = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    py = python_of(name)
    if py.exists() and stamp.exists() and stamp.read_text() == want:
        return py
    if sys.version_info[:2] != tuple(map(int, HOST_PYTHON.split("."))):
        _log(f"warning: running under Python {sys.version.split()[0]}; the bpy wheels need {HOST_PYTHON}")
    _log(f"installing {name}: {' '.join(reqs)} (first time only; Blender wheels are ~370 MB)")
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    subprocess.run(
        [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *reqs], check=True
    )
    stamp.write_text(want)
    return py


def blender_ext_tool(bpy_env: str | None = None) -> tuple[Path, Path]:
    """(python, Blender's own extension tool shipped inside the bpy wheel) of one Blender environment.

    By default the current environment when it is a Blender one, else the newest on this machine's Python.
    """
    bpy_env = bpy_env or (current() if current().startswith("bpy-") else f"bpy-{HOST_BLENDER}")
    py = ensure(bpy_env)
    if bpy_env == current():
        site = Path(sysconfig.get_paths()["purelib"])
    else:
        site = next((py.parent.parent / "lib").glob("python3*/site-packages"), None)
        if site is None:  # Windows layout
            site = py.parent.parent / "Lib" / "site-packages"
    hits = sorted(site.glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not hits:
        raise SystemExit(f"blender_ext.py not found in {site}")
    return py, hits[-1]
