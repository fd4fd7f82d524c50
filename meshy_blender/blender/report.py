"""One way to tell the user something: the status bar, and for problems the panel's message line.

Operators and the pump call ``tell()``; nothing else writes a report or the panel's message.
An operator passes itself (``op=self``) and its report shows at once (an ERROR also makes
``bpy.ops`` raise it to a calling script). Without an operator (a worker's finding, applied by the
pump) the report waits in ``reports`` until the pump's modal operator shows it on its next TIMER
event; headless sessions, which have no such operator, keep only the latest. Exceptions are put
into words by ``message_of`` (every error type of the add-on carries ``user_message``).
"""

from __future__ import annotations

from typing import NamedTuple

from ..meshy.errors import user_message_of

MAX_REPORTS = 100
PREFIX = "Meshy: "


class Report(NamedTuple):
    level: str  # Blender's report type: INFO | WARNING | ERROR
    text: str


reports: list[Report] = []  # not yet shown in the status bar
_panel = {"message": ""}  # the problem the panel shows until dismissed (or until the next success)

message_of = user_message_of


def tell(level: str, message: str, *, op=None, panel: bool = False) -> None:
    """Show ``message`` in the status bar (through ``op`` when given), and in the panel when ``panel``."""
    if panel:
        _panel["message"] = message
    text = PREFIX + message
    if op is not None:
        op.report({level}, text)
        return
    reports.append(Report(level, text))
    del reports[:-MAX_REPORTS]


def show(op, since: int = 0) -> None:
    """Hand the waiting reports from index ``since`` on to an operator.

    The pump's modal operator takes them all; an import takes only those its own work made
    (``since=len(reports)`` before it), so another job's failure never fails this operator.
    """
    mine = reports[since:]
    del reports[since:]
    for level, text in mine:
        op.report({level}, text)


def panel_message() -> str:
    return _panel["message"]


def dismiss() -> None:
    """The user closed the panel's message, or what it complained about has been done since."""
    _panel["message"] = ""
