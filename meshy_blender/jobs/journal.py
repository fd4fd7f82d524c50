"""Durable job records: one small JSON file per job, replaced atomically at every change.

This is what makes a paid task survive a crash: the record is on disk before any network
call, and each write is temp file -> fsync -> os.replace -> fsync(dir), so a reader sees
either the old record or the new one, never half of one. A record that cannot be read
(corrupt, truncated, or written by a newer add-on) is moved to ``corrupt/`` with a note
and skipped; loading never raises. Records hold no API key and no image bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..meshy.durable import fsync_dir
from .locks import FileLock
from .states import JobState

log = logging.getLogger(__name__)

SCHEMA = 1
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HISTORY_MAX = 64
_NUMBERS = {"attempts", "progress", "created_at", "updated_at"}
_STRINGS = {"kind", "state", "label", "phase", "error", "folder", "blend_file", "source"}


def valid_job_id(job_id: object) -> bool:
    """Job ids become file names: keep them to a safe alphabet."""
    return isinstance(job_id, str) and bool(_ID_RE.match(job_id))


@dataclass
class JobRecord:
    """Everything needed to finish a job after a restart (file names are relative to ``folder``)."""

    id: str
    kind: str
    state: str = JobState.PREPARING.value
    label: str = ""
    phase: str = ""
    error: str = ""
    task_id: str | None = None
    input_task_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    option_files: dict[str, str] = field(default_factory=dict)  # option -> file holding its data URI image
    input_names: list[str] = field(default_factory=list)  # what the user picked (image names, paths)
    input_files: list[str] = field(default_factory=list)  # our copies in folder, in upload order
    input_mimes: list[str] = field(default_factory=list)
    folder: str = ""
    files: dict[str, Any] = field(default_factory=dict)  # model/thumbnail -> name, textures -> {map: name}
    blend_file: str = ""
    target: dict[str, Any] = field(default_factory=dict)
    objects: list[str] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)  # follow-ups: source_job_id, source_task_id, ...
    source: str = "submit"  # submit | follow | resubmit
    resubmitted_from: str | None = None
    copy_from: str = ""  # folder of the job this one resubmits: inputs are copied from there
    attempts: int = 0  # create attempts (429 queue full counts)
    progress: float = 0.0
    preceding_tasks: int | None = None
    credits: int | None = None
    created_at: float = 0.0  # epoch s
    updated_at: float = 0.0
    finished_at: float | None = None
    submitted_at: int | None = None  # epoch ms, set right before the create request is sent
    unreconciled: bool = False  # canceled while the create was on the wire: look for its task, never resend
    task_created_at: int | None = None  # epoch ms, from Meshy
    expires_at: float | None = None  # epoch s, when Meshy's download links die
    history: list[list[Any]] = field(default_factory=list)  # [[state, epoch s], ...]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["schema"] = SCHEMA
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        """Build from a loaded dict; raises ValueError when it is not a usable record."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        schema = data.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise ValueError("no schema version")
        if schema > SCHEMA:
            raise ValueError(f"schema {schema} is newer than this add-on understands ({SCHEMA})")
        if schema < 1:
            raise ValueError(f"unknown schema {schema}")
        if not valid_job_id(data.get("id")):
            raise ValueError("missing or unsafe job id")
        if not isinstance(data.get("kind"), str):
            raise ValueError("missing kind")
        try:
            JobState(str(data.get("state")))
        except ValueError:
            raise ValueError(f"unknown state {data.get('state')!r}") from None
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        rec = cls(**kwargs)
        for f in dataclasses.fields(cls):  # a wrong type in any field means a damaged record
            value = getattr(rec, f.name)
            if f.name in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"field {f.name} is not a number")
            if f.name in _STRINGS and not isinstance(value, str):
                raise ValueError(f"field {f.name} is not text")
            if f.default_factory is dict and not isinstance(value, dict):
                raise ValueError(f"field {f.name} is not an object")
            if f.default_factory is list and not isinstance(value, list):
                raise ValueError(f"field {f.name} is not a list")
        return rec

    def set_state(self, state: JobState | str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        state = JobState(state).value
        if state != self.state or not self.history:
            self.history.append([state, round(now, 3)])
            del self.history[:-_HISTORY_MAX]
        self.state = state
        self.updated_at = now


def atomic_write(path: Path, data: bytes) -> None:
    """Write data to path so that a crash leaves either the old or the new content."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    for attempt in range(5):  # Windows refuses to replace a file another process has open
        try:
            os.replace(tmp, path)
            break
        except PermissionError:
            if attempt == 4:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            time.sleep(0.05 * (attempt + 1))
    fsync_dir(path.parent)


class Journal:
    """The folder of job records, plus ``locks/``, ``corrupt/`` and ``archive/`` beside them."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "locks").mkdir(exist_ok=True)

    # -- paths -------------------------------------------------------------------------------------
    def path(self, job_id: str) -> Path:
        if not valid_job_id(job_id):
            raise ValueError(f"unsafe job id {job_id!r}")
        return self.dir / f"{job_id}.json"

    def lock(self, job_id: str) -> FileLock | None:
        """Claim the job for this process, or None when another live owner holds it."""
        lock = FileLock(self.dir / "locks" / f"{self.path(job_id).stem}.lock")
        return lock if lock.acquire() else None

    # -- writing -----------------------------------------------------------------------------------
    def write(self, record: JobRecord | dict[str, Any], archived: bool = False) -> None:
        """Durably replace the record (``archived``: the one in archive/, for removed jobs)."""
        data = record.to_dict() if isinstance(record, JobRecord) else dict(record, schema=SCHEMA)
        payload = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
        path = self.path(data["id"])
        if archived:
            path = self.dir / "archive" / path.name
            path.parent.mkdir(exist_ok=True)
        atomic_write(path, payload)

    def archive(self, job_id: str) -> None:
        """Move a record out of the way (the user removed it from the list); kept for reconcile."""
        src = self.path(job_id)
        if src.exists():
            dest = self.dir / "archive"
            dest.mkdir(exist_ok=True)
            os.replace(src, dest / src.name)
            fsync_dir(self.dir)

    # -- reading -----------------------------------------------------------------------------------
    def read(self, job_id: str) -> JobRecord | None:
        """One record, or None when missing; a damaged one is moved aside."""
        path = self.path(job_id)
        return self._read_path(path, quarantine=True)

    def load_all(self) -> list[JobRecord]:
        """Every readable record, oldest first; damaged ones are moved to corrupt/ and skipped."""
        self._clean_temp_files()
        records = []
        try:
            paths = sorted(self.dir.glob("*.json"))
        except OSError as exc:
            log.warning("cannot list journal %s: %s", self.dir, exc)
            return []
        for path in paths:
            rec = self._read_path(path, quarantine=True)
            if rec is not None:
                records.append(rec)
        records.sort(key=lambda r: (r.created_at, r.id))
        return records

    def archived(self) -> list[JobRecord]:
        """Records the user removed from the list (read-only; damaged ones are just skipped)."""
        out = []
        folder = self.dir / "archive"
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                rec = self._read_path(path, quarantine=False)
                if rec is not None:
                    out.append(rec)
        return out

    def claimed_task_ids(self) -> dict[str, str]:
        """task id -> job id over live and archived records, so reconcile never takes one twice."""
        out = {}
        for rec in [*self.archived(), *self.load_all()]:
            if rec.task_id:
                out[rec.task_id] = rec.id
        return out

    def _read_path(self, path: Path, quarantine: bool) -> JobRecord | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read journal record %s: %s", path, exc)
            return None
        try:
            rec = JobRecord.from_dict(json.loads(raw.decode("utf-8")))
            if rec.id != path.stem:
                raise ValueError(f"record id {rec.id!r} does not match its file name")
            return rec
        except (ValueError, TypeError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            if quarantine:
                self._quarantine(path, str(exc))
            return None

    def _quarantine(self, path: Path, reason: str) -> None:
        """Keep a damaged record for a human, out of the way of loading."""
        log.warning("journal record %s is unusable (%s); moved to corrupt/", path.name, reason)
        folder = self.dir / "corrupt"
        try:
            folder.mkdir(exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            dest = folder / f"{path.stem}.{stamp}.{os.getpid()}.json"
            shutil.move(str(path), dest)
            note = (
                f"Moved aside by meshy_blender at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                f"Original: {path}\nReason: {reason}\n"
            )
            dest.with_suffix(".txt").write_text(note, encoding="utf-8")
        except OSError as exc:
            log.warning("could not move %s aside: %s", path, exc)

    def _clean_temp_files(self) -> None:
        """Temp files left by a crash mid-write; the record they were replacing is intact."""
        now = time.time()
        for tmp in self.dir.glob(".*.tmp"):
            try:
                if now - tmp.stat().st_mtime > 60:
                    tmp.unlink()
            except OSError:
                pass
