"""Account look-ups (credit balance, Account History) run on the engine's I/O thread, like jobs.

Each look-up makes its own client, closes it, and ends as one AccountEvent on the engine's event
queue: the result, or the user message saying why there is none. Nothing here keeps state.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

from ..meshy import IMAGE_TO_3D, MULTI_IMAGE_TO_3D
from ..meshy.errors import user_message_of
from .model import AccountEvent

HISTORY_PAGE = 20  # newest tasks of each kind listed in Account History
LOOKUPS = ("balance", "history")


def balance(client: Any) -> int:
    return client.balance()


def history(client: Any) -> list[tuple[str, Any]]:
    """(kind, Task) of both task types, newest first."""
    tasks: list[tuple[str, Any]] = []
    for kind in (IMAGE_TO_3D, MULTI_IMAGE_TO_3D):
        tasks += [(kind, t) for t in client.list_tasks(kind, page_size=HISTORY_PAGE, sort_by="-created_at")]
    tasks.sort(key=lambda kt: kt[1].created_at or 0, reverse=True)
    return tasks


_FETCH = {"balance": balance, "history": history}


def look_up(what: str, client_factory: Callable[[], Any]) -> AccountEvent:
    """Ask Meshy; never raises (a problem comes back as the event's error)."""
    try:
        with closing(client_factory()) as client:
            return AccountEvent(what, _FETCH[what](client))
    except Exception as exc:  # shown in the panel and the status bar
        return AccountEvent(what, None, user_message_of(exc))
