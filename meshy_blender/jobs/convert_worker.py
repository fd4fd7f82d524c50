"""Worker: one job's conversion, model.glb -> model.blend in a background Blender (jobs/converter.py).

Runs on the engine's conversion threads, bounded apart from the network workers (a conversion takes
a CPU core and a few hundred MB; a download takes neither). The job is "converting" in the journal
while the child runs, so a crash anywhere converts again at the next start, and a model.blend that
is already complete is never converted twice. Where no converter can start, the job becomes ready
with its model.glb and the main thread imports it in-process (told once: ``ConverterStatus``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..meshy.followups import LABELS
from ..meshy.options import OPTION_FIELDS
from . import files as F
from .catalogs import ROOT as CATALOG_ROOT
from .context import WorkerContext
from .converter import (
    BlendNotReady,
    Conversion,
    ConverterUnavailable,
    ConvertFailed,
    ConvertRequest,
    ConvertResult,
    Launcher,
    finished_blend,
)
from .followup import is_followup
from .followup import tags as followup_tags
from .journal import JobRecord
from .live import LiveJob
from .states import JobState

log = logging.getLogger(__name__)
S = JobState

CONVERT_FROM = 0.95  # the one rising bar: downloads end here when a conversion follows; it fills the rest
EXPECTED_SECONDS = 10.0  # a 1M-triangle model; the bar approaches its end, never reaches it early
PROGRESS_INTERVAL = 0.25
KILLED_TRIES = 2  # a converter killed by a signal is started once more before the job shows the error
TAG_MAX = 63  # Blender keeps 63 characters of an asset tag
TEXT_MAX = 800  # of one option's value in the description (prompts are at most 600)


class ConverterStatus:
    """Why this engine's jobs fall back to the in-process import (None: they don't)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problem: str | None = None

    def set(self, problem: str | None) -> None:
        with self._lock:
            self._problem = problem

    def problem(self) -> str | None:
        with self._lock:
            return self._problem


def request_for(rec: JobRecord, compress: bool = False) -> ConvertRequest:
    """What the child converts: the job's files (names are ours, inside its folder), its tags, and the
    asset's catalog, search tags and description. The catalog is the job target's "catalog" (a batch
    name or path parts, e.g. ["Meshy", "Spring shoot"]), else "Meshy"."""
    folder = Path(rec.folder)
    textures = rec.files.get("textures") or {}
    return ConvertRequest(
        folder=str(folder), label=rec.label or "Meshy model",
        tags={"meshy_job_id": rec.id, "meshy_task_id": rec.task_id or "", **followup_tags(rec)},
        texture_files={m: str(F.inside(folder, name)) for m, name in textures.items()},
        clips={c: str(F.inside(folder, name)) for c, name in (rec.files.get("clips") or {}).items()},
        glb=str(F.inside(folder, rec.files.get("model") or F.MODEL)), compress=compress,
        catalog=catalog_of(rec), asset_tags=asset_tags(rec), description=asset_description(rec),
        fps=frame_rate(rec),
    )


def frame_rate(rec: JobRecord) -> tuple[int, float]:
    """The (fps, fps_base) of the scene the job was asked from; (0, 1.0): Blender's default (24).
    glTF keys are seconds and the importer turns them into frames at its scene's rate, so a clip keyed
    at 24 would play at the wrong speed in a 30 fps scene."""
    wanted = rec.target.get("fps")
    try:
        fps, base = int(wanted[0]), float(wanted[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return (0, 1.0)
    return (fps, base) if 1 <= fps <= 1000 and 0.001 <= base <= 1000 else (0, 1.0)


def catalog_of(rec: JobRecord) -> tuple[str, ...]:
    wanted = rec.target.get("catalog")
    if isinstance(wanted, str) and wanted.strip():
        return (CATALOG_ROOT, wanted)
    if isinstance(wanted, list | tuple) and wanted and all(isinstance(p, str) for p in wanted):
        return tuple(wanted) if wanted[0] == CATALOG_ROOT else (CATALOG_ROOT, *wanted)
    return (CATALOG_ROOT,)


def ai_model(rec: JobRecord) -> str:
    """The model the task ran with: the option sent, else Meshy's default for it ("" for a follow-up that
    has none: Remesh and Rigging run no AI model of the user's choice)."""
    if is_followup(rec.kind) and not rec.options.get("ai_model"):
        return ""
    return str(rec.options.get("ai_model") or OPTION_FIELDS["ai_model"].server_default or "latest")


def photo_names(rec: JobRecord) -> list[str]:
    """The photos' own names without folder and extension ("chair" for /photos/chair.jpg)."""
    out = []
    for name in rec.input_names:
        stem = os.path.splitext(os.path.basename(str(name).replace("\\", "/")))[0].strip()
        if stem and stem not in out:
            out.append(stem)
    return out


def asset_tags(rec: JobRecord) -> tuple[str, ...]:
    """What a user types in the Asset Browser's search: meshy, the task kind, the AI model, the photos."""
    tags: list[str] = []
    lineage = rec.lineage or {}
    made_from = (str(lineage.get("operation") or ""), str(lineage.get("source_label") or "").split(" / ")[0])
    for tag in ("meshy", rec.kind, ai_model(rec), *photo_names(rec), *made_from):
        tag = tag[:TAG_MAX]
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def asset_description(rec: JobRecord) -> str:
    """Task id, options, credits and date, one fact a line (the Asset Browser's sidebar shows it)."""
    when = (rec.task_created_at or 0) / 1000 or rec.created_at or time.time()
    options = ", ".join(f"{k}={_short(v)}" for k, v in sorted(rec.options.items()) if _short(v))
    lines = [
        f"Meshy {LABELS.get(rec.kind, rec.kind)}, task {rec.task_id or '(none)'}",
        f"Photos: {', '.join(photo_names(rec))}" if rec.input_names else made_from(rec),
        f"Options: {options or 'Meshy defaults'}" + (f" (AI model {ai_model(rec)})" if ai_model(rec) else ""),
        f"Credits: {rec.credits if rec.credits is not None else 'unknown'}",
        "Created: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when)),
    ]
    return "\n".join(lines)


def made_from(rec: JobRecord) -> str:
    """A follow-up's lineage, one line: "Remesh of chair (task 0193..., job 4f2a...)"."""
    lineage = rec.lineage or {}
    source = f"task {rec.input_task_id or lineage.get('source_task_id') or '?'}"
    if lineage.get("source_job_id"):
        source += f", job {lineage['source_job_id']}"
    if lineage.get("source_label"):
        return f"{LABELS.get(rec.kind, rec.kind)} of {lineage['source_label']} ({source})"
    return f"From {source}"


def _short(value: object) -> str:
    """An option's value for the description; images sent as data (data URIs) are left out."""
    text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return "" if text.startswith("data:") else text[:TEXT_MAX]


def bar(seconds: float) -> float:
    """Progress while converting: rises from CONVERT_FROM toward 1.0 (reached when the model is ready)."""
    return CONVERT_FROM + (1.0 - CONVERT_FROM) * 0.95 * (1.0 - math.exp(-seconds / EXPECTED_SECONDS))


def convert(ctx: WorkerContext, job: LiveJob, status: ConverterStatus) -> None:
    """Convert the job's model and make it ready; errors the user can act on end the job in "error"."""
    table, rec = ctx.table, job.rec
    if job.stop.is_set():
        return
    try:
        finished_blend(rec.folder)  # converted before a crash, or Import Again: never twice
        _ready(ctx, job, "Ready to import")
        return
    except BlendNotReady:
        pass
    launcher = ctx.settings.converter
    if launcher is None:
        _ready(ctx, job, "Ready to import")
        return
    last = [0.0]

    def on_tick(seconds: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            table.change(job, None, persist=False, phase=f"Converting ({seconds:.0f} s)", progress=bar(seconds))

    try:
        result = _run(ctx, job, launcher, on_tick)
    except ConverterUnavailable as exc:
        log.info("job %s: no converter (%s); the main thread imports it", rec.id, exc.message)
        status.set(exc.message)
        _ready(ctx, job, "Ready to import (in this Blender)")
        return
    except ConvertFailed as exc:
        if exc.stopped:
            return  # canceled or removed (the job takes no changes), or shut down: converts again next start
        table.change(job, S.ERROR, phase=f"Import failed: {exc.message}", error=exc.message)
        return
    except OSError as exc:
        message = (f"Cannot write to the model library folder ({rec.folder}): {exc.strerror or exc}. "
                   "Free some space or choose another folder, then press Retry.")
        table.change(job, S.ERROR, phase="Disk error", error=message)
        return
    status.set(None)
    log.info("job %s: converted in %.1f s (%d triangles, peak %s MB)", rec.id, result.seconds, result.triangles,
             f"{result.peak_memory_mb:.0f}" if result.peak_memory_mb else "?")
    _ready(ctx, job, "Ready to import")


def _run(ctx: WorkerContext, job: LiveJob, launcher: Launcher, on_tick: Callable[[float], None]) -> ConvertResult:
    """One conversion; a converter killed from outside (out of memory, a stray kill) is tried once more."""
    for attempt in range(KILLED_TRIES):
        conversion = Conversion(launcher, request_for(job.rec, ctx.settings.compress_models),
                                ctx.settings.convert_time_limit, cancel=job.stop, on_tick=on_tick)
        try:
            return conversion.run()
        except ConvertFailed as exc:
            if not exc.killed or attempt + 1 == KILLED_TRIES or job.stop.is_set():
                raise
            log.warning("job %s: %s; converting once more", job.rec.id, exc.message)
    raise AssertionError("unreachable")


def _ready(ctx: WorkerContext, job: LiveJob, phase: str) -> None:
    ctx.table.change(job, S.READY, phase=phase, progress=1.0, error="", ready=True)
