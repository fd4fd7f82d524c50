"""Credit estimates, so the UI can show the cost before submitting.

Numbers from Meshy's Image to 3D guide (follow-ups: FOLLOWUP_CREDITS); the server's ``consumed_credits``
is the truth (and is 0 for failed tasks, which are refunded).
"""

from __future__ import annotations

from . import ANIMATION, REMESH, RETEXTURE, RIGGING

# ai_model -> (textured, untextured)
CREDIT_TABLE: dict[str, tuple[int, int]] = {
    "meshy-6": (30, 20),
    "latest": (30, 20),
    "meshy-5": (15, 5),
}


def estimate_credits(ai_model: str | None = None, should_texture: bool | None = None) -> int:
    """Credits one task should cost.  ``None`` means the server default (latest, textured).

    Unknown (newer) models are priced like ``latest``.
    """
    textured, untextured = CREDIT_TABLE.get(ai_model or "latest", CREDIT_TABLE["latest"])
    return untextured if should_texture is False else textured


# Follow-ups on a finished model, per task (the MCP reference's pricing table and the task examples).
FOLLOWUP_CREDITS: dict[str, int] = {REMESH: 5, RETEXTURE: 10, RIGGING: 5, ANIMATION: 3}


def followup_credits(kind: str) -> int:
    """Credits one Remesh / Retexture / Rigging / Animation task should cost."""
    try:
        return FOLLOWUP_CREDITS[kind]
    except KeyError:
        raise ValueError(f"no price for {kind!r}: one of {', '.join(FOLLOWUP_CREDITS)}") from None
