"""Rebuild the model library: give every finished job folder that has only a model.glb its model.blend.

Version 0.1 kept a downloaded model as ``model.glb`` (+ ``thumbnail.png``, ``textures/*.png``,
``input_N.*``) in ``<library>/<label>-<8 hex>/``; the Asset Browser cannot show those. A rebuild
finds them, from the journal's records (live and archived) and from folders of the library no
record names (copied from another machine, a lost journal), and converts each in a background
Blender, exactly as a new job's conversion does (`convert_worker.request_for`, `converter.Conversion`).

Pure (never imports bpy). The engine runs the conversions on its conversion threads, so they count
against Concurrent Conversions, and yields a thread back whenever a new job's conversion waits.
Resumable without a record of its own: a folder whose model.blend is complete is never converted
again (the converter renames only a finished file), a killed converter leaves at most a .part file
that the next run clears. Nothing here touches the network or a job's record.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import files as F
from .convert_worker import request_for
from .converter import (
    ERROR_MARKER,
    BlendNotReady,
    Conversion,
    ConverterUnavailable,
    ConvertFailed,
    ConvertRequest,
    Launcher,
    finished_blend,
)
from .journal import JobRecord
from .locks import FileLock
from .states import ACTIVE

log = logging.getLogger(__name__)

YIELD_DELAY = 0.2  # seconds a rebuild thread steps aside when a job's conversion waits for a thread
_ID_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}$")
_INPUT = re.compile(r"^input_\d+\.(png|jpe?g)$", re.IGNORECASE)
_LOG_TAIL = 16384


@dataclass(frozen=True)
class Item:
    """One folder to convert: what the child gets, and the job it belongs to ("" when none)."""

    folder: str
    label: str
    request: ConvertRequest
    job_id: str = ""


@dataclass(frozen=True)
class Failure:
    folder: str
    label: str
    reason: str


@dataclass(frozen=True)
class Progress:
    """A snapshot for the panel and for scripts (cheap: no disk)."""

    planned: bool
    done: bool
    total: int  # folders to convert in this run
    converted: int
    failed: tuple[Failure, ...]
    running: tuple[str, ...]  # labels being converted now
    already: int  # folders that had a complete model.blend (nothing to do)
    stopped: str = ""  # why the whole run ended early ("" when it did not)

    @property
    def finished(self) -> int:
        return self.converted + len(self.failed)

    @property
    def fraction(self) -> float:
        return 1.0 if self.done or not self.total else self.finished / self.total


# ---------------------------------------------------------------------------------------- the plan


def has_blend(folder: str | Path) -> bool:
    try:
        finished_blend(folder)
    except BlendNotReady:
        return False
    return True


def previous_failure(folder: str | Path) -> str:
    """The reason a converter gave the last time it failed on this folder ("" when none did)."""
    try:
        with open(Path(folder) / F.CONVERT_LOG, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _LOG_TAIL))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith(ERROR_MARKER):
            return line[len(ERROR_MARKER):].strip()
    return ""


def label_of_folder(name: str) -> str:
    """A folder's readable part: ``chair_photo-1a2b3c4d`` -> ``chair_photo``."""
    return _ID_SUFFIX.sub("", name) or name


def folder_record(folder: Path) -> JobRecord:
    """A stand-in record for a folder no journal record names, made from what the folder holds."""
    textures = {m: F.texture_file_name(m) for m in F.TEXTURE_MAPS if (folder / F.texture_file_name(m)).is_file()}
    files: dict = {"model": F.MODEL}
    if (folder / F.THUMBNAIL).is_file():
        files["thumbnail"] = F.THUMBNAIL
    if textures:
        files["textures"] = textures
    inputs = sorted((p.name for p in folder.iterdir() if _INPUT.match(p.name)), key=_input_index)
    return JobRecord(id="", kind="image-to-3d" if len(inputs) <= 1 else "multi-image-to-3d",
                     state="imported", label=label_of_folder(folder.name), folder=str(folder), files=files,
                     input_files=inputs, input_names=list(inputs))


def _input_index(name: str) -> int:
    return int(re.sub(r"\D", "", name.split(".", 1)[0]) or 0)


def _model_of(rec: JobRecord) -> Path | None:
    try:
        return F.inside(Path(rec.folder), rec.files.get("model") or F.MODEL)
    except ValueError:
        return None


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(str(path)))


Plan = tuple[list[Item], list[Failure], int]


def plan(library_dir: str | Path, records: Iterable[JobRecord], *, automatic: bool) -> Plan:
    """(folders to convert, folders left out with the reason, folders already converted).

    Records of finished jobs come first (their folders may lie anywhere); then the library's
    sub-folders with a model.glb that no record names. Folders of active jobs are never touched:
    their own conversion makes their model.blend. An automatic run leaves out a folder a converter
    already failed on (listed with that reason); an explicit one (the operator, the API) tries again.
    """
    items: list[Item] = []
    failures: list[Failure] = []
    already = 0
    claimed: set[str] = set()
    candidates: list[tuple[JobRecord, Path]] = []
    for rec in records:
        if not rec.folder:
            continue
        claimed.add(_key(rec.folder))
        model = _model_of(rec)
        if rec.state in ACTIVE or model is None or not model.is_file():
            continue
        candidates.append((rec, model))
    library = Path(library_dir)
    try:
        subfolders = sorted(p for p in library.iterdir() if p.is_dir()) if library.is_dir() else []
    except OSError as exc:
        log.warning("cannot list the model library %s: %s", library, exc)
        subfolders = []
    for sub in subfolders:
        if _key(sub) not in claimed and (sub / F.MODEL).is_file():
            claimed.add(_key(sub))
            candidates.append((folder_record(sub), sub / F.MODEL))
    for rec, _model in candidates:
        folder = Path(rec.folder)
        if has_blend(folder):
            already += 1
            continue
        label = rec.label or folder.name
        earlier = previous_failure(folder) if automatic else ""
        if earlier:
            failures.append(Failure(str(folder), label, earlier))
            continue
        items.append(Item(str(folder), label, request_for(rec), rec.id))
    return items, failures, already


# ---------------------------------------------------------------------------------------- one run


class Rebuild:
    """One rebuild: its plan, the folders being converted and what came of each. Thread-safe."""

    def __init__(self, *, automatic: bool = False):
        self.automatic = automatic
        self.cancel = threading.Event()  # shutdown: kills the running converters
        self._lock = threading.Lock()
        self._plan_lock = threading.Lock()
        self._queue: deque[Item] = deque()
        self._planned = False
        self._total = 0
        self._already = 0
        self._converted = 0
        self._failed: list[Failure] = []
        self._running: dict[str, Item] = {}
        self._stopped = ""
        self._done = threading.Event()

    # -- planning (the first conversion thread to get here plans, the others wait for it)
    def ensure_planned(self, make_plan: Callable[[], Plan]) -> None:
        with self._plan_lock:
            if self._planned:
                return
            try:
                items, failures, already = make_plan()
            except Exception as exc:  # a plan that cannot be made ends the run with the reason
                log.exception("rebuild: planning failed")
                items, failures, already = [], [], 0
                self._stopped = f"The model library could not be read: {exc}"
            with self._lock:
                self._queue.extend(items)
                self._total = len(items) + len(failures)
                self._failed.extend(failures)
                self._already = already
                self._planned = True
            log.info("rebuild: %d folders to convert, %d left out, %d already converted",
                     len(items), len(failures), already)
            self._finish_if_empty()

    # -- taking and finishing folders
    def take(self) -> Item | None:
        with self._lock:
            if self.cancel.is_set() or self._stopped or not self._queue:
                return None
            item = self._queue.popleft()
            self._running[_key(item.folder)] = item
            return item

    def put_back(self, item: Item) -> None:
        """A folder that was not converted after all (stopped): first again, unless the run is over."""
        with self._lock:
            self._running.pop(_key(item.folder), None)
            if not (self._stopped or self.cancel.is_set()):
                self._queue.appendleft(item)
        self._finish_if_empty()

    def finish(self, item: Item, failure: str | None) -> None:
        with self._lock:
            self._running.pop(_key(item.folder), None)
            if failure is None:
                self._converted += 1
            else:
                self._failed.append(Failure(item.folder, item.label, failure))
        self._finish_if_empty()

    def stop(self, reason: str) -> None:
        """End the run: no more folders start (the running ones finish)."""
        with self._lock:
            self._stopped = self._stopped or reason
            self._queue.clear()
        self._finish_if_empty()

    def _finish_if_empty(self) -> None:
        with self._lock:
            if self._planned and not self._queue and not self._running:
                self._done.set()

    # -- reading
    def converting(self, folder: str | Path) -> bool:
        with self._lock:
            return _key(folder) in self._running

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is over (True) or the timeout passes (False)."""
        return self._done.wait(timeout)

    def progress(self) -> Progress:
        with self._lock:
            return Progress(self._planned, self._done.is_set(), self._total, self._converted, tuple(self._failed),
                            tuple(i.label for i in self._running.values()), self._already, self._stopped)


def convert_item(item: Item, launcher: Launcher, time_limit: float, lock_dir: Path,
                 cancel: threading.Event) -> str | None:
    """Convert one folder; None when its model.blend is complete, else why not (the folder's failure).

    Raises ConverterUnavailable (no converter can start: the whole run stops) and lets a stop
    (shutdown) through as ConvertFailed(stopped=True). A folder another Blender is converting right
    now (its lock is held) is left to that Blender.
    """
    lock = FileLock(lock_dir / f"rebuild-{hashlib.sha1(_key(item.folder).encode()).hexdigest()[:16]}.lock")
    if not lock.acquire():
        return "Another Blender is converting this folder; rebuild again when it is done."
    try:
        if has_blend(item.folder):  # converted meanwhile (another Blender, or the job itself)
            return None
        started = time.monotonic()
        try:
            Conversion(launcher, item.request, time_limit, cancel=cancel).run()
        except ConverterUnavailable:
            raise
        except ConvertFailed as exc:
            if exc.stopped:
                raise
            return exc.message
        except OSError as exc:
            return f"Cannot write to {item.folder}: {exc.strerror or exc}."
        log.info("rebuild: %s converted in %.1f s", item.folder, time.monotonic() - started)
        return None
    finally:
        lock.release()



# ---------------------------------------------------------------------------------------- lookups


def asset_of_folder(folder: str | Path) -> tuple[str, str] | None:
    """(model.blend path, asset name) of a job folder whose model.blend is complete, else None."""
    try:
        info = finished_blend(folder)
    except BlendNotReady:
        return None
    name = info.get("collection")
    return (str(Path(folder) / F.BLEND), name) if isinstance(name, str) and name else None


def folder_of_asset_path(path: str | Path) -> str:
    """The job folder a path names: a model.blend (or its result JSON) -> its folder; a folder as it is."""
    p = Path(path)
    return _key(p.parent if p.name in (F.BLEND, F.BLEND_RESULT) else p)


def same_folder(a: str | Path, b: str | Path) -> bool:
    return _key(a) == _key(b)
