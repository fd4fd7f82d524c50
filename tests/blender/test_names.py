"""Names in real Blender, through the real local server: non-ASCII photos, Windows-unsafe labels, the folder button.

The folder button runs Blender's own wm.path_open, whose branches are per platform: here the
Linux branch runs as it is (a stand-in `xdg-open` on PATH records what it was given), and the
macOS (`open`) and Windows (`os.startfile`) branches run with sys.platform set for the call and
a stand-in for the program / function. What Finder or Explorer then do is not exercised.
"""

from __future__ import annotations

import importlib
import os
import stat
import sys
from pathlib import Path

import bl_support
import bpy
import pytest
from checks import assert_fully_wired, bsdf_of
from workflow_support import make_image, save_image

PHOTO = "Café 椅子"


def files_rules():
    """The installed add-on's jobs.files (importable once the session's fixture installed the zip)."""
    return importlib.import_module(bl_support.MODULE + ".jobs.files")


def photo(folder: Path, stem: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    img = make_image("src", 40, 32)
    path = save_image(img, folder / f"{stem}.png")
    bpy.data.images.remove(img)
    return path


def meshes(objects):
    return [o for o in objects if o.type == "MESH"]


def test_a_non_ascii_photo_becomes_a_model_named_after_it(meshy):
    """Photo, folders and .blend all non-ASCII: the panel's operator, the pump, the import, the save."""
    path = photo(meshy.tmp / "Фото 照片", PHOTO)
    blend = meshy.tmp / "Сцена 场景" / "Ñandú.blend"
    blend.parent.mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    img = bpy.data.images.load(str(path))
    assert img.name == f"{PHOTO}.png"
    bpy.context.scene.meshy.image = img
    assert bpy.ops.meshy.image_to_3d(enable_pbr=True, ai_model="meshy-6") == {"FINISHED"}
    job = meshy.api.jobs()[0]
    assert job.view.label == PHOTO and job.view.input_names == [PHOTO]
    objects = meshy.api.wait(job, timeout=90)
    mesh = meshes(objects)[0]
    assert mesh.users_collection[0].name == PHOTO, "the collection is named after the photo"
    assert_fully_wired(bsdf_of(mesh))
    folder = Path(job.view.folder)
    assert folder.name == f"{PHOTO}-{job.id[:8]}" and files_rules().is_safe_name(folder.name)
    assert (folder / "input_0.png").read_bytes() == path.read_bytes()
    maps = job.view.files["textures"]
    assert len(maps) == 5 and all(Path(p).parent == folder / "textures" and Path(p).is_file() for p in maps.values())
    assert job.view.blend_file == str(blend) and job.state == "imported"
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    assert bpy.data.collections.get(PHOTO) is not None, "saved and reopened under its name"


@pytest.mark.parametrize("stem", ["con", "what? <1> a|b", "trailing dots..", "椅子" * 40])
def test_windows_unsafe_or_long_names_make_safe_folders_and_keep_their_label(meshy, stem):
    path = photo(meshy.tmp / "in", stem)
    job = meshy.api.submit_image(str(path))
    objects = meshy.api.wait(job, timeout=90)
    folder = Path(job.view.folder)
    assert files_rules().is_safe_name(folder.name), folder.name
    assert folder.name.endswith(f"-{job.id[:8]}") and len(folder.name) <= files_rules().LABEL_MAX + 9
    assert job.view.label == stem, "the label is the photo's own name; only the folder is made safe"
    collection = meshes(objects)[0].users_collection[0].name
    assert collection and stem.startswith(collection), "named after the photo (Blender cuts long names, "\
        "on a character boundary: 63 bytes before 5.0)"


@pytest.fixture
def finished_job(meshy):
    job = meshy.api.submit_image(str(photo(meshy.tmp / "in", PHOTO)))
    meshy.api.wait(job, timeout=90)
    return job


def fake_program(folder: Path, name: str, record: Path) -> None:
    """An executable `name` on PATH that writes the argument it got (bytes, as the OS passed them)."""
    folder.mkdir(exist_ok=True)
    prog = folder / name
    prog.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > '{record}'\n")
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(sys.platform != "linux", reason="stand-in programs are POSIX shell scripts")
@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_open_folder_gives_the_job_folder_to_the_file_browser(finished_job, meshy, monkeypatch, platform):
    record = meshy.tmp / "opened.txt"
    opened: list[str] = []
    bin_dir = meshy.tmp / "bin"
    fake_program(bin_dir, {"linux": "xdg-open", "darwin": "open"}.get(platform, "unused"), record)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    if platform == "win32":
        monkeypatch.setattr(os, "startfile", opened.append, raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    try:
        result = bpy.ops.meshy.open_folder(job_id=finished_job.id)
    finally:
        monkeypatch.setattr(sys, "platform", "linux")
    assert result == {"FINISHED"}
    folder = finished_job.view.folder
    got = opened[0] if platform == "win32" else record.read_bytes().decode("utf-8")
    assert got == folder and Path(got).is_dir() and Path(got).name.startswith(PHOTO)


def test_open_folder_says_so_when_the_folder_is_gone(finished_job, meshy, monkeypatch):
    import shutil

    bin_dir = meshy.tmp / "bin"
    record = meshy.tmp / "opened.txt"
    fake_program(bin_dir, "xdg-open", record)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    shutil.rmtree(finished_job.view.folder)
    with pytest.raises(RuntimeError) as err:  # bpy.ops raises the operator's error report
        bpy.ops.meshy.open_folder(job_id=finished_job.id)
    for message in (str(err.value), meshy.report.panel_message()):
        assert "is not there" in message and finished_job.view.folder in message and "Submit Again" in message
    assert not record.exists(), "nothing was handed to the file browser"
