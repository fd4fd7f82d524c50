"""The engine's public value types: what callers hand in, and what the panel reads back.

Views and events are immutable snapshots so the main thread can keep them while workers
move on; nothing here refers back to live engine state. ``poll_events()`` returns both event
types: JobEvent for jobs, AccountEvent for account look-ups (balance, history).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .states import ACTIVE, JobState


@dataclass(frozen=True)
class UploadImage:
    """One input image: PNG or JPEG bytes, or (deferred) a callable that makes them on a worker thread.

    A deferred image's `encode` is pure (no bpy: Blender's part, reading the pixels, is done) and
    returns the bytes of `mime`; submit() checks its size only once it has run, before any create.
    A ReportableError it raises becomes the job's error message.
    """

    name: str
    mime: str
    data: bytes = field(default=b"", repr=False)
    encode: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def deferred(self) -> bool:
        return self.encode is not None


@dataclass
class JobSpec:
    """What to make: Meshy options use the API's field names, without image_url(s)."""

    kind: str
    images: list[UploadImage] = field(default_factory=list)
    input_task_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    blend_file: str = ""
    target: dict[str, Any] = field(default_factory=dict)  # opaque to the engine: for the importer
    lineage: dict[str, Any] = field(default_factory=dict)  # follow-ups: the source job (jobs/followup.py)


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job for drawing; cheap to get, safe to keep."""

    id: str
    label: str
    kind: str
    state: JobState
    phase: str
    progress: float  # 0..1
    task_id: str | None
    preceding_tasks: int | None
    error: str
    created: float  # epoch s
    updated: float
    finished: float | None
    folder: str
    files: dict[str, Any]  # "model" -> path, "thumbnail" -> path, "textures" -> {map: path}
    blend_file: str
    target: dict[str, Any]
    objects: list[str]
    input_names: list[str]
    options: dict[str, Any]
    credits: int | None
    expires_at: float | None  # epoch s
    lineage: dict[str, Any] = field(default_factory=dict)  # follow-ups: source job/task, operation, options

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class JobEvent:
    """Something changed; ``ready`` is set once when the model waits for import."""

    job_id: str
    view: JobView
    ready: bool = False


@dataclass(frozen=True)
class AccountEvent:
    """The answer to an account look-up (``what``: balance | history): its result, or why there is none."""

    what: str
    result: Any = None
    error: str = ""  # the user message when the look-up failed (result is None then)
