"""File and folder names the add-on makes: valid on Windows, macOS and Linux, readable, within MAX_PATH.

The Windows rules are restated here independently of meshy_blender.jobs.files (from Microsoft's
"Naming Files, Paths, and Namespaces"), and Python's own PureWindowsPath.is_reserved() is a second
opinion, so a rule missing from files.py fails here rather than being checked against itself.
"""

from __future__ import annotations

import base64
import errno
import re
import sys
import time
import unicodedata
from pathlib import Path, PureWindowsPath

import pytest
from test_engine_support import head, png

from meshy_blender.jobs import JobRecord, JobSpec, Journal, UploadImage
from meshy_blender.jobs import files as F

WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
DEVICES = ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))]
MAX_PATH = 259  # characters of a path on Windows (MAX_PATH = 260 with the terminating NUL)


def units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def assert_windows_safe(name: str, limit: int = 120) -> None:
    """Microsoft's rules, plus Linux's 255 bytes and NFC; restated, not imported."""
    assert name, "empty name"
    assert not WINDOWS_FORBIDDEN.search(name), f"forbidden character in {name!r}"
    assert name[-1] not in ". ", f"{name!r} ends with a dot or space (Windows drops them)"
    stem = name.split(".")[0].rstrip(" ").upper()
    assert stem not in DEVICES and stem not in ("COM\u00b9", "COM\u00b2", "COM\u00b3", "LPT\u00b9", "LPT\u00b2",
                                                "LPT\u00b3", "CONIN$", "CONOUT$"), f"{name!r} is a device name"
    assert not PureWindowsPath(name).is_reserved(), name
    assert PureWindowsPath(name).name == name, f"{name!r} is not a single name"
    assert units(name) <= limit, f"{name!r} is {units(name)} characters"
    assert len(name.encode("utf-8")) <= 255, f"{name!r} is over 255 bytes"  # strict: no lone surrogates
    assert name == unicodedata.normalize("NFC", name)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in name)
    assert F.is_safe_name(name, limit)


NASTY = [
    "", " ", "...", "..", ".", "   .  ", "\x00\x01\x1f", "???", "***", "<>", "a<b>c:d\"e/f\\g|h?i*j",
    "chair.", "chair ", "chair. . .", " chair", ".hidden", "tab\there", "new\nline", "del\x7fete",
    "c1\x85control", "CON", "con", "Con.png", "con.tar.gz", "nul .txt", "NUL", "AUX.blend", "prn", "COM1", "com9.glb",
    "LPT1", "lpt9.png", "COM\u00b9", "lpt\u00b3.png", "CONIN$", "conout$.x", "COM0", "CONSOLE", "NULL", "COM10",
    "Café 椅子", "Cafe\u0301 椅子", "čaj ☕ / tea", "🪑" * 100, "椅" * 200, "a" * 300, "e\u0301" * 200,
    "q\u0307" * 130, "x" * 119 + ". y", "x" * 119 + "🪑", "\u202eevil\u202c.png", "zero\u200bwidth", "\ufeffbom",
    "\udc80\udcff photo", "line\u2028sep", "nbsp\u00a0space", "../../etc/passwd", "C:\\Windows\\x", "/abs/path",
    "a__b", "_", "-", "—", "👨\u200d👩\u200d👧" * 30, "ﬁle", "\u0000CON", "CON\u0000",
]


@pytest.mark.parametrize("label", NASTY, ids=lambda s: repr(s)[:30])
def test_every_label_becomes_a_name_valid_everywhere(label):
    name = F.safe_name(label)
    assert_windows_safe(name)
    assert F.safe_name(name) == name, "the rule is stable: a safe name stays as it is"


@pytest.mark.parametrize("limit", [1, 2, 3, 8, 57, 120])
def test_limits_hold_for_every_width_of_character(limit):
    for label in ("a" * 300, "椅" * 300, "🪑" * 300, "q\u0307" * 300, "👨\u200d👩\u200d👧" * 60):
        name = F.safe_name(label, limit)
        assert_windows_safe(name, limit)


def test_readable_names_stay_as_they_are():
    assert F.safe_name("Café 椅子") == "Café 椅子"
    assert F.safe_name("Cafe\u0301 椅子") == "Café 椅子", "NFD (as macOS lists names) becomes NFC"
    assert F.safe_name("Red cube") == "Red cube"
    assert F.safe_name("čaj ☕ / tea") == "čaj ☕ _ tea"
    assert F.safe_name("chair?.png") == "chair_.png"
    assert F.safe_name("chair. ") == "chair"
    assert F.safe_name("  spaced   out  ") == "spaced out"
    assert F.safe_name("a\tb\nc") == "a_b_c"
    assert F.safe_name("\u202egnp.exe") == "gnp.exe", "a right-to-left override cannot disguise a name"
    assert F.safe_name("nbsp\u00a0space") == "nbsp space"
    assert F.safe_name("\udc80\udcffphoto") == "photo", "undecodable bytes (surrogateescape) are dropped"


def test_device_names_are_prefixed_also_with_an_extension():
    for device in DEVICES:
        for variant in (device, device.lower(), device.title()):
            assert F.safe_name(variant) == "_" + variant
            assert F.safe_name(variant + ".png") == f"_{variant}.png"
    assert F.safe_name("nul .txt") == "_nul .txt"
    assert F.safe_name("COM\u00b2") == "_COM\u00b2"
    for fine in ("CONSOLE", "COM0", "COM10", "NULL", "auxiliary.png", "lpt"):
        assert F.safe_name(fine) == fine


def test_truncation_respects_characters_bytes_and_marks():
    assert F.safe_name("a" * 300) == "a" * 120
    cjk = F.safe_name("椅" * 300)
    assert cjk == "椅" * 85, "85 x 3 bytes: ext4 takes 255 bytes per name"
    emoji = F.safe_name("🪑" * 300)
    assert emoji == "🪑" * 60, "each is two UTF-16 units on Windows (and four bytes)"
    marked = F.safe_name("q\u0307" * 300)  # no precomposed form: a letter and its mark are two characters
    assert marked == "q\u0307" * 60, "a letter is never cut from its mark"
    assert F.safe_name("x" * 119 + ". y") == "x" * 119, "the cut must not leave a trailing dot"
    assert F.safe_name("x" * 119 + "🪑") == "x" * 119, "half a surrogate pair is never left"
    family = "👨\u200d👩\u200d👧"
    assert not F.safe_name(family * 30, 10).endswith("\u200d")


def test_empty_or_unusable_labels_fall_back():
    for label in ("", "   ", "...", "???", "\x00", "_", "\u202e"):
        assert F.safe_name(label) == "job"
    assert F.safe_name("", 2) == "jo"


def test_is_safe_name_refuses_what_windows_refuses():
    for bad in ("", ".", "..", "a:b", "a/b", "x.", "x ", "con.png", "LPT1", "a\x00", "é".replace("é", "e\u0301"),
                "a" * 121, "椅" * 86, "\udc80"):
        assert not F.is_safe_name(bad), repr(bad)
    for good in ("model.glb", "input_0.png", "option_texture_image_url.png", "Café 椅子-0123abcd", "a__b",
                 ".input_0.png.123.456.tmp", "thumbnail.png.part"):
        assert F.is_safe_name(good), good


def test_vocabulary_names_follow_the_rule():
    names = [F.MODEL, F.THUMBNAIL, *(F.input_file_name(i, m) for i in range(4) for m in ("image/png", "image/jpeg")),
             *(F.option_file_name(k, "image/png") for k in ("texture_image_url", "save_pre_remeshed_model"))]
    names += [n for m in F.TEXTURE_MAPS for n in F.texture_file_name(m).split("/")]
    for name in names:
        assert_windows_safe(name)
    for bad in ("../x", "a/b", "", "Texture", "x" * 25, "a.b", "_x"):
        with pytest.raises(ValueError):
            F.option_file_name(bad, "image/png")


def test_inside_refuses_names_the_add_on_never_writes(tmp_path):
    for bad in ("con.png", "a:b.png", "x.", "textures/nul", "../x.glb", "a\\..\\..\\x"):
        with pytest.raises(ValueError):
            F.inside(tmp_path, bad)
    assert F.inside(tmp_path, "textures/normal.png") == (tmp_path / "textures" / "normal.png").resolve()
    assert F.inside(tmp_path, "textures\\normal.png").name in ("normal.png", "textures\\normal.png")


# ------------------------------------------------------------------------------------ path budget


def library_of_windows_length(tmp_path: Path, length: int = len(F.DEFAULT_LIBRARY_WINDOWS)) -> Path:
    """A real folder whose path is as long as the default library on a typical Windows account."""
    base = str(tmp_path.resolve())
    pad = length - len(base) - len("/library") - 1
    assert pad > 0, "tmp_path is too long for this test"
    lib = Path(base) / ("p" * pad) / "library"
    assert len(str(lib)) == length
    lib.mkdir(parents=True)
    return lib


def test_budget_is_what_the_documentation_says():
    assert len(F.DEFAULT_LIBRARY_WINDOWS) == 128
    assert F.LABEL_MAX == 259 - 128 - 10 - 64 == 57
    longest_option = max(len(k) for k in ("texture_image_url", "save_pre_remeshed_model", "multi_view_thumbnails"))
    windows_tmp = f"\\.option_{'k' * F.OPTION_KEY_MAX}.png.{'9' * 10}.{'9' * 10}.tmp"  # Windows ids: 10 digits
    assert longest_option <= F.OPTION_KEY_MAX and len(windows_tmp) <= F.INSIDE_RESERVE
    assert len("\\" + F.texture_file_name("base_color").replace("/", "\\") + ".part") <= F.INSIDE_RESERVE


def test_job_folder_under_the_default_library_keeps_every_path_within_max_path(tmp_path):
    lib = library_of_windows_length(tmp_path)
    for label in ("a" * 300, "椅" * 300, "🪑" * 300, "Café 椅子", "con", "", "x" * 56 + ". z"):
        folder = F.job_folder(lib, label, "0123456789abcdef")
        assert folder.parent == lib.resolve()
        assert_windows_safe(folder.name)
        assert folder.name.endswith("-01234567")
        assert units(str(folder)) + F.INSIDE_RESERVE <= MAX_PATH
    assert F.job_folder(lib, "a" * 300, "0123456789abcdef").name == "a" * 57 + "-01234567"
    assert F.job_folder(lib, "Café 椅子", "0123456789abcdef").name == "Café 椅子-01234567"


def test_a_longer_library_shortens_the_label_then_windows_gets_a_clear_error(tmp_path, monkeypatch):
    lib = library_of_windows_length(tmp_path, 160)
    folder = F.job_folder(lib, "a" * 300, "0123456789abcdef")
    assert folder.name == "a" * (57 - 32) + "-01234567"
    long_lib = library_of_windows_length(tmp_path / "x", 190)
    assert F.job_folder(long_lib, "chair", "0123456789abcdef").name == "01234567", "only the id fits"
    monkeypatch.setattr(F, "_WINDOWS", False)
    too_long = library_of_windows_length(tmp_path / "y", 200)
    assert F.job_folder(too_long, "chair", "0123456789abcdef").name == "01234567", "fine where paths are long"
    monkeypatch.setattr(F, "_WINDOWS", True)
    with pytest.raises(OSError) as err:
        F.job_folder(too_long, "chair", "0123456789abcdef")
    assert err.value.errno == errno.ENAMETOOLONG
    assert "Model Library folder in the add-on preferences" in str(err.value) and str(too_long) in str(err.value)
    assert F.job_folder(lib, "chair", "0123456789abcdef").name == "chair-01234567", "a usable library still works"


def test_job_folders_stay_in_the_library_whatever_the_label(tmp_path):
    lib = tmp_path / "lib"
    for label in ("../../etc/passwd", "..", "/abs/path", "C:\\Windows\\x", "\\\\server\\share", "a/../../b"):
        folder = F.job_folder(lib, label, "0123456789abcdef")
        assert folder.parent == lib.resolve(), label
    assert F.job_folder(lib, "x", "../../evil").parent == lib.resolve()


# ------------------------------------------------------------------------------------ a real job


class WriteLog:
    """Every path this process opens for writing, creates, or renames to, under one folder (audit hooks:
    the events CPython raises for open/os.open/mkdir/rename/replace, so nothing is patched)."""

    active: list = []
    _installed = False

    def __init__(self, root: Path):
        self.root = str(Path(root).resolve())
        self.paths: set[str] = set()

    def __enter__(self):
        if not WriteLog._installed:
            sys.addaudithook(WriteLog._hook)
            WriteLog._installed = True
        WriteLog.active.append(self)
        return self

    def __exit__(self, *exc):
        WriteLog.active.remove(self)

    @staticmethod
    def _hook(event, args):
        if not WriteLog.active:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & 0o3)
            paths = [path] if writing else []
        elif event in ("os.mkdir", "os.rename", "os.replace"):
            paths = [args[0], args[1]] if event != "os.mkdir" else [args[0]]
        else:
            return
        for p in paths:
            if isinstance(p, (str, Path)):
                for log in WriteLog.active:
                    if str(p).startswith(log.root):
                        log.paths.add(str(p))


def test_a_whole_job_writes_only_safe_names_within_max_path(kit, tmp_path):
    """Image to 3D with PBR maps and a texture image given as a data URI, labelled with a long
    non-ASCII name, under a library as long as Windows' default: every path it writes fits."""
    k = kit(task_seconds=0.2)
    k.library_dir = library_of_windows_length(tmp_path)
    eng = k.engine()
    label = "Café 椅子 " * 30 + "?<con>."
    texture = "data:image/png;base64," + base64.b64encode(png(4, 4)).decode()
    with WriteLog(k.library_dir) as log:
        job_id = eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("Café 椅子.png", "image/png", png())],
                                    label=label, options={"enable_pbr": True, "texture_image_url": texture}))
        view = k.wait(eng, job_id, "ready")
    folder = Path(view.folder)
    assert folder.name.startswith("Café 椅子 Café") and folder.name.endswith(f"-{job_id[:8]}")
    assert head(view.files["model"], 4) == b"glTF" and len(view.files["textures"]) == 5
    assert (folder / "option_texture_image_url.png").read_bytes() == png(4, 4)
    written = {p for p in log.paths if p != str(k.library_dir)}
    assert any(p.endswith(".tmp") for p in written) and any(p.endswith(".part") for p in written), written
    for path in written:
        assert units(path) <= MAX_PATH, f"{path} is {units(path)} characters"
        assert units(path) - units(str(folder)) <= F.INSIDE_RESERVE, path
        for part in Path(path).relative_to(k.library_dir).parts:
            assert_windows_safe(part)


def test_old_records_keep_their_folders(kit):
    """Folders named by earlier versions (ASCII only, spaces as _) are used as the journal says."""
    k = kit()
    eng0 = k.engine()
    job0 = eng0.submit(JobSpec(kind="image-to-3d", images=[UploadImage("p.png", "image/png", png())]))
    task_id = k.wait(eng0, job0, "ready").task_id
    eng0.shutdown(wait=True)
    old = k.library_dir / "Caf_-abcdef01"  # what 0.1.0 made of "Café 椅子"
    old.mkdir(parents=True)
    (old / "input_0.png").write_bytes(png())
    rec = JobRecord(id="abcdef0123", kind="image-to-3d", label="Café 椅子", folder=str(old), task_id=task_id,
                    input_names=["Café 椅子.png"], input_files=["input_0.png"], input_mimes=["image/png"],
                    created_at=time.time())
    rec.set_state("pending")
    Journal(k.journal_dir).write(rec)
    eng = k.engine()
    eng.recover()
    view = k.wait(eng, "abcdef0123", "ready")
    assert view.folder == str(old) and view.label == "Café 椅子"
    assert Path(view.files["model"]).parent == old and head(view.files["model"], 4) == b"glTF"
