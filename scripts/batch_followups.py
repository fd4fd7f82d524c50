"""The follow-ups of a batch (--then-remesh N, --lods N,N,...): what each model gets, and what of it the
journal already holds.

Each follow-up is one Remesh job on a model of the run, its own asset in the library beside its source.
It is known by its source and its role ("remesh", or "LOD0".."LODn"): the job's lineage names the source
task and the options sent (target_polycount), and its target's tag is "<item key> <role>". A re-run finds
what it already submitted in the engine's job list, so no state file of the batch's own is kept and no
follow-up is created twice. Pure: batch.py parses with it, batch_blender.py plans with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REMESH = "remesh"  # meshy.REMESH: the kind, the lineage's operation and the role of --then-remesh
CATALOGS = {REMESH: "Remesh", "LOD": "LODs"}  # Meshy/<batch>/Remesh, Meshy/<batch>/LODs


def polycount_range() -> tuple[int, int]:
    """Remesh's target_polycount range, as the add-on declares it (meshy/followup_options.py)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from meshy_blender.meshy.followup_options import FOLLOWUP_FIELDS

    lo, hi = FOLLOWUP_FIELDS[REMESH]["target_polycount"].range
    return int(lo), int(hi)


def parse_counts(flag: str, text: str) -> list[int]:
    """'50000,10000,2000' -> [50000, 10000, 2000]; ValueError naming the flag, the value and the range."""
    lo, hi = polycount_range()
    parts = [p.strip().replace("_", "") for p in str(text).split(",")]
    if not text or not all(parts):
        raise ValueError(f"{flag} {text!r}: give polycounts separated by commas, e.g. {flag} 50000,10000,2000")
    counts = []
    for part in parts:
        try:
            n = int(part)
        except ValueError:
            n = None
        if n is None or not lo <= n <= hi:
            raise ValueError(f"{flag}: {part!r} is not a polycount Meshy takes: a whole number from {lo:,} to {hi:,}")
        counts.append(n)
    if len(set(counts)) != len(counts):
        raise ValueError(f"{flag} {text}: a polycount is given twice; each level needs its own count")
    return counts


def wanted(remesh: int | None, lods: list[int] | None) -> list[tuple[str, int]]:
    """(role, target_polycount) of every follow-up each model gets, in the order they are sent."""
    out = [(REMESH, remesh)] if remesh else []
    return out + [(f"LOD{i}", n) for i, n in enumerate(lods or [])]


def key_of(item_key: str, role: str) -> str:
    """The follow-up's own key (its job's tag, its line among the failures): "chair.png LOD1"."""
    return f"{item_key} {role}"


def catalog_of(batch_name: str, role: str) -> list[str]:
    return [batch_name, CATALOGS["LOD" if role.startswith("LOD") else REMESH]]


def is_followup(view) -> bool:
    return bool(view.lineage)


def existing(views, source, key: str, polycount: int):
    """The latest job of this follow-up of this source model (a job view), None when none was submitted.

    ``views``: the engine's job list; ``source``: the source job's view. A job for another count (the
    command's counts changed since) is not this follow-up: a re-run with new counts adds those levels."""
    found = None
    for view in sorted(views, key=lambda v: v.created):
        lineage = view.lineage or {}
        if (lineage.get("operation") == REMESH and lineage.get("source_task_id") == source.task_id
                and view.target.get("tag") == key
                and (lineage.get("options") or {}).get("target_polycount") == polycount):
            found = view
    return found
