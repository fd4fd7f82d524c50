"""The Meshy task object, parsed tolerantly.

The API adds fields, sends ``null`` where docs promise numbers, and stream events carry only
id/progress/status while a task runs.  ``Task.from_json`` never fails on such answers: unknown
fields go to ``extra``, the original dict stays in ``raw``, and ``merge`` folds partial updates in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Task", "TaskError", "TaskStatus"]


class TaskStatus:
    """Status strings.  Unknown statuses from the server are kept as plain strings."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
    ALL = (PENDING, IN_PROGRESS, SUCCEEDED, FAILED, CANCELED)


@dataclass(frozen=True)
class TaskError:
    """Why a task failed, e.g. ``TaskError("", "moderation_blocked", None)``."""

    type: str
    message: str
    code: str | int | None = None

    @classmethod
    def from_json(cls, value: Any) -> TaskError | None:
        """Accept ``{message}``, ``{type, message, code}`` or a bare string; None if no message."""
        if value is None:
            return None
        if isinstance(value, str):
            return cls("", value) if value.strip() else None
        if not isinstance(value, Mapping):
            return None
        message = value.get("message")
        message = "" if message is None else str(message)
        if not message.strip():
            return None
        err_type = value.get("type")
        code = value.get("code")
        if code is not None and not isinstance(code, (str, int)):
            code = str(code)
        return cls("" if err_type is None else str(err_type), message, code)


_VIEW_NAMES = ("front", "right", "back", "left")

_KNOWN = frozenset({
    "id", "type", "status", "progress", "model_urls", "model_url", "thumbnail_url", "thumbnail_urls",
    "alpha_thumbnail_url", "texture_urls", "texture_prompt", "preceding_tasks", "created_at",
    "started_at", "finished_at", "expires_at", "consumed_credits", "task_error",
})


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _int(value: Any) -> int:
    parsed = _opt_int(value)
    return 0 if parsed is None else parsed


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _url_map(value: Any) -> dict[str, str]:
    """Keep only non-empty string URLs: formats that were not generated stay absent."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str) and v}


def _texture_list(value: Any) -> list[dict[str, str]]:
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return []
    return [m for m in (_url_map(item) for item in value) if m]


def _thumbnail_map(value: Any) -> dict[str, str]:
    """Views by name; a list is taken as front, right, back, left."""
    if isinstance(value, list):
        value = {(_VIEW_NAMES[i] if i < len(_VIEW_NAMES) else str(i)): v for i, v in enumerate(value)}
    return _url_map(value)


@dataclass(frozen=True)
class Task:
    """A snapshot of one Meshy task.  Build with ``Task.from_json``; never mutated."""

    id: str
    type: str = ""
    status: str = TaskStatus.PENDING
    progress: int = 0
    model_urls: dict[str, str] = field(default_factory=dict)
    thumbnail_url: str = ""
    thumbnail_urls: dict[str, str] = field(default_factory=dict)
    alpha_thumbnail_url: str = ""
    texture_urls: list[dict[str, str]] = field(default_factory=list)
    texture_prompt: str = ""
    preceding_tasks: int = 0
    created_at: int = 0
    started_at: int = 0
    finished_at: int = 0
    expires_at: int = 0
    consumed_credits: int | None = None
    task_error: TaskError | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        """Parse an API task object; missing or null fields get neutral values."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a task must be a JSON object, not {type(data).__name__}")
        raw = dict(data)
        model_urls = _url_map(raw.get("model_urls"))
        if "glb" not in model_urls and isinstance(raw.get("model_url"), str) and raw["model_url"]:
            model_urls["glb"] = raw["model_url"]
        status = _str(raw.get("status")).strip().upper() or TaskStatus.PENDING
        progress = max(0, min(100, _int(raw.get("progress"))))
        return cls(
            id=_str(raw.get("id")),
            type=_str(raw.get("type")),
            status=status,
            progress=progress,
            model_urls=model_urls,
            thumbnail_url=_str(raw.get("thumbnail_url")),
            thumbnail_urls=_thumbnail_map(raw.get("thumbnail_urls")),
            alpha_thumbnail_url=_str(raw.get("alpha_thumbnail_url")),
            texture_urls=_texture_list(raw.get("texture_urls")),
            texture_prompt=_str(raw.get("texture_prompt")),
            preceding_tasks=_int(raw.get("preceding_tasks")),
            created_at=_int(raw.get("created_at")),
            started_at=_int(raw.get("started_at")),
            finished_at=_int(raw.get("finished_at")),
            expires_at=_int(raw.get("expires_at")),
            consumed_credits=_opt_int(raw.get("consumed_credits")),
            task_error=TaskError.from_json(raw.get("task_error")),
            extra={k: v for k, v in raw.items() if k not in _KNOWN},
            raw=raw,
        )

    def merge(self, partial: Mapping[str, Any]) -> Task:
        """A new Task with ``partial``'s fields over this one's (stream events are partial)."""
        merged = {**self.raw, **dict(partial)}
        if not merged.get("id"):
            merged["id"] = self.id
        return Task.from_json(merged)

    def to_json(self) -> dict[str, Any]:
        """The raw dict (for journals); ``Task.from_json(t.to_json()) == t``."""
        return dict(self.raw) if self.raw else {"id": self.id, "status": self.status}

    @property
    def is_terminal(self) -> bool:
        return self.status in TaskStatus.TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == TaskStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status == TaskStatus.FAILED

    @property
    def canceled(self) -> bool:
        return self.status == TaskStatus.CANCELED

    @property
    def error_message(self) -> str:
        """Why the task did not succeed ('' while it is running or if it succeeded)."""
        if self.task_error is not None:
            return self.task_error.message
        if self.status == TaskStatus.FAILED:
            return "The Meshy task failed without an error message."
        if self.status == TaskStatus.CANCELED:
            return "The Meshy task was canceled."
        return ""
