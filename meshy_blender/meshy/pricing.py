"""Credit estimates, so the UI can show the cost before submitting.

Numbers from Meshy's Image to 3D guide; the server's ``consumed_credits`` is the truth
(and is 0 for failed tasks, which are refunded).
"""

from __future__ import annotations

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
