"""Find the task a lost create request made, without ever creating it again.

When the process died (or the connection broke) after the create request may have reached
Meshy but before its task id was saved, the task can only be found in the account's task
list: newest first, same type, created close to the moment we sent the request, and not
already owned by another job. Picking wrongly would import someone else's model, so the
match is strict; finding nothing makes the job "unknown" and the user decides.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from .followup import task_types

WINDOW_BEFORE_MS = 60_000  # clocks differ: the server may stamp a little before our submitted_at
WINDOW_AFTER_MS = 10 * 60_000  # a slow upload or a long server-side queue before the stamp
PAGE_SIZE = 50
MAX_PAGES = 3


def matches(task: Any, kind: str, submitted_at_ms: int, claimed: Collection[str], options: dict) -> bool:
    """Is this task a candidate for our lost submission?"""
    if not getattr(task, "id", None) or task.id in claimed:
        return False
    ttype = getattr(task, "type", None)
    if ttype and ttype not in task_types(kind):  # a follow-up's type is not always its kind ("rig")
        return False
    created = getattr(task, "created_at", None)
    if not isinstance(created, int | float) or created <= 0:
        return False
    if not (submitted_at_ms - WINDOW_BEFORE_MS <= created <= submitted_at_ms + WINDOW_AFTER_MS):
        return False
    # Fields Meshy echoes back must agree when both sides have them.
    for key in ("texture_prompt",):
        ours, theirs = options.get(key), getattr(task, key, None)
        if ours and theirs and ours != theirs:
            return False
    return True


def best_match(
    tasks: Iterable[Any], kind: str, submitted_at_ms: int, claimed: Collection[str], options: dict
) -> Any | None:
    """The candidate created closest after submitted_at (or, failing that, closest before)."""
    found = [t for t in tasks if matches(t, kind, submitted_at_ms, claimed, options)]
    if not found:
        return None
    return min(found, key=lambda t: (t.created_at < submitted_at_ms, abs(t.created_at - submitted_at_ms)))


def find_task(
    list_tasks: Callable[..., list[Any]],
    kind: str,
    submitted_at_ms: int,
    claimed: Collection[str],
    options: dict | None = None,
    *,
    pages: int = MAX_PAGES,
    page_size: int = PAGE_SIZE,
) -> Any | None:
    """Walk the account's task list newest first; stop once tasks are older than the window.

    ``list_tasks`` is the client's method; its errors propagate (a failed look-up is not
    "not found": the caller tries again later instead of declaring the job unknown).
    """
    options = options or {}
    seen: list[Any] = []
    for page in range(1, pages + 1):
        batch = list_tasks(kind, page_num=page, page_size=page_size, sort_by="-created_at")
        seen.extend(batch)
        oldest = min((t.created_at for t in batch if isinstance(t.created_at, int | float)), default=None)
        if len(batch) < page_size or (oldest is not None and oldest < submitted_at_ms - WINDOW_BEFORE_MS):
            break
    return best_match(seen, kind, submitted_at_ms, claimed, options)
