"""The asset catalogs of a model library: ``blender_assets.cats.txt`` at the library's root.

Blender's Asset Browser reads its catalog tree from that file (one per asset library), and each
asset names its catalog by UUID. The format (Blender's asset_catalog_definition_file.cc)::

    # comments and empty lines are ignored
    VERSION 1
    <uuid>:<path/with/slashes>:<simple name>

Several converters (child processes) and several Blenders may add catalogs to one library at the
same time. So the file is read, merged and written under a lock file beside it, and replaced
atomically (a reader, Blender included, sees the old file or the new one, never half of one).
UUIDs are derived from the path (uuid5), so two writers that never saw each other's file still
agree; a path already in the file (the user made it in the Asset Browser) keeps the UUID it has.
Every other line of the file is kept as it was. A file of a newer format is never rewritten.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..meshy.durable import fsync_dir
from ..meshy.errors import ReportableError
from .locks import FileLock

CATS_FILE = "blender_assets.cats.txt"
LOCK_FILE = ".blender_assets.cats.txt.lock"
ROOT = "Meshy"  # every model's catalog is this one or below it
VERSION = 1
NAMESPACE = uuid.UUID("6d1f3a52-8c0e-4b7a-9e43-3f6c2b8d9a10")  # fixed: the same path gives the same UUID everywhere
LOCK_TIMEOUT = 10.0  # seconds; a merge takes milliseconds
_POLL = 0.01
_MAX_NAME = 64  # Blender's MAX_NAME, with its terminating NUL
_HEADER = (
    "# This is an Asset Catalog Definition file for Blender.\n"
    "#\n"
    "# Empty lines and lines starting with `#` will be ignored.\n"
    "# The first non-ignored line should be the version indicator.\n"
    '# Other lines are of the format "UUID:catalog/path/for/assets:simple catalog name"\n'
    "\n"
    f"VERSION {VERSION}\n"
    "\n"
)


class CatalogFileError(ReportableError, OSError):
    """The catalog file cannot be merged (newer format, lock held too long); the message says which."""


@dataclass(frozen=True)
class Catalog:
    uuid: str
    path: str  # "Meshy/Batch 12"
    simple_name: str  # "Meshy-Batch 12"


def clean_part(name: str) -> str:
    """One path component as Blender keeps it: no separator, no ':' (the file's delimiter), no line breaks."""
    out = []
    for ch in unicodedata.normalize("NFC", str(name)):
        if ch in "/\\:":
            out.append("-")
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split()) or "Unnamed"


def catalog_path(parts: Sequence[str]) -> str:
    """["Meshy", "Batch: spring/2025"] -> "Meshy/Batch- spring-2025"."""
    if not parts:
        raise ValueError("a catalog path needs at least one part")
    return "/".join(clean_part(p) for p in parts)


def catalog_uuid(path: str) -> str:
    return str(uuid.uuid5(NAMESPACE, path))


def simple_name(path: str) -> str:
    """Blender's own choice (AssetCatalog::sensible_simple_name_for_path): '/' -> '-', the start trimmed."""
    name = path.replace("/", "-")
    if len(name) < _MAX_NAME - 1:
        return name
    return "..." + name[-60:]


def parse(text: str) -> tuple[int | None, dict[str, Catalog]]:
    """(the file's version or None, its catalogs by path; the first line for a path wins, as in Blender)."""
    version: int | None = None
    found: dict[str, Catalog] = {}
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if version is None:
            head, _, number = line.partition(" ")
            version = int(number) if head == "VERSION" and number.strip().isdigit() else -1
            continue
        ident, sep, rest = line.partition(":")
        path, _, name = rest.partition(":")
        try:
            ident = str(uuid.UUID(ident))
        except ValueError:
            continue  # Blender skips such a line too
        path = "/".join(p.strip() for p in path.replace("\\", "/").split("/") if p.strip())
        if sep and path and path not in found:
            found[path] = Catalog(ident, path, name.strip())
    return version, found


def ensure(library: str | Path, parts: Sequence[str], timeout: float = LOCK_TIMEOUT) -> Catalog:
    """The catalog for ``parts`` (and each parent: "Meshy" for "Meshy/Batch") in the library's file,
    added if missing. Safe beside other processes doing the same; CatalogFileError when the file
    cannot be merged (the caller may still use ``wanted(parts)``: the UUID is the one a writer would add)."""
    library = Path(library)
    path = catalog_path(parts)
    lock = FileLock(library / LOCK_FILE)
    deadline = time.monotonic() + timeout
    while not lock.acquire():
        if time.monotonic() > deadline:
            raise CatalogFileError(f"The asset catalog file in {library} stayed locked for {timeout:g} s "
                                   f"(by the process in {library / LOCK_FILE}); "
                                   "the model stays in no catalog until a later model adds it.")
        time.sleep(_POLL)
    try:
        return _merge(library / CATS_FILE, path)
    finally:
        lock.release()


def wanted(parts: Sequence[str]) -> Catalog:
    """The catalog ``ensure`` adds to a file that does not name its path yet."""
    path = catalog_path(parts)
    return Catalog(catalog_uuid(path), path, simple_name(path))


def _merge(file: Path, path: str) -> Catalog:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"The asset catalog file {file} is not UTF-8 text ({exc.reason}): fix or remove "
                               "it, and the next model adds its catalogs again.") from None
    version, found = parse(text)
    if version not in (None, VERSION):
        raise CatalogFileError(f"The asset catalog file {file} has a format this add-on does not know "
                               f"(VERSION {version}); it was left as it is. Update the add-on to add catalogs to it.")
    components = path.split("/")
    missing = []
    for depth in range(1, len(components) + 1):
        sub = "/".join(components[:depth])
        if sub not in found:
            found[sub] = Catalog(catalog_uuid(sub), sub, simple_name(sub))
            missing.append(found[sub])
    if missing:
        if not text.strip():
            text = _HEADER
        elif version is None:  # nothing but comments so far: keep them
            text = text.rstrip("\r\n") + f"\n\nVERSION {VERSION}\n\n"
        elif not text.endswith(("\n", "\r")):
            text += "\n"
        text += "".join(f"{c.uuid}:{c.path}:{c.simple_name}\n" for c in missing)
        _replace(file, text.encode("utf-8"))
    return found[path]


def _replace(file: Path, data: bytes) -> None:
    """Temporary file, fsync, rename; readable by whoever may read the library (not 0600 like the journal)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        for attempt in range(5):  # Windows refuses to replace a file another process has open
            try:
                os.replace(tmp, file)
                break
            except PermissionError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(file.parent)
