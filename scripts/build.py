"""Build dist/meshy_blender-<version>.zip with Blender's own extension tool, then validate it.

    python scripts/build.py

Only the add-on goes into the zip: the package and the manifest are staged first,
so tests, scripts and caches can never slip in.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env

ROOT = _env.ROOT
STAGE = ROOT / "build" / "stage"
DIST = ROOT / "dist"
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


def version() -> str:
    with open(ROOT / "blender_manifest.toml", "rb") as f:
        return tomllib.load(f)["version"]


def zip_path() -> Path:
    return DIST / f"meshy_blender-{version()}.zip"


def stage() -> Path:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    shutil.copytree(ROOT / "meshy_blender", STAGE, ignore=SKIP)
    shutil.copy2(ROOT / "blender_manifest.toml", STAGE / "blender_manifest.toml")
    return STAGE


def build(quiet: bool = False) -> Path:
    py, tool = _env.blender_ext_tool()
    src = stage()
    DIST.mkdir(exist_ok=True)
    out = zip_path()
    out.unlink(missing_ok=True)
    run = dict(check=True, capture_output=quiet, text=True)
    subprocess.run([str(py), str(tool), "build", "--source-dir", str(src), "--output-filepath", str(out)], **run)
    subprocess.run([str(py), str(tool), "validate", str(out)], **run)
    if not quiet:
        print(f"built and validated {out.relative_to(ROOT)} ({out.stat().st_size / 1024:.0f} KiB)")
    return out


if __name__ == "__main__":
    build()
