"""A job's input files in its library folder: saved by a worker thread, kept for "Submit again".

submit() only hands the bytes over; saving them (or copying them from the job a resubmit came
from) runs here, on the engine's I/O thread, so the caller never waits on the disk.
"""

from __future__ import annotations

from pathlib import Path

from . import files as F
from .context import WorkerContext
from .journal import JobRecord, atomic_write
from .live import LiveJob
from .states import JobState

INPUTS_LOST_MESSAGE = (
    "The input images of this job were not saved before Blender stopped, so it cannot be sent. "
    "Submit it again from Blender."
)


def save(ctx: WorkerContext, job: LiveJob) -> bool:
    """Write the job's inputs into its folder; True when it may be queued (False: stopped or failed)."""
    if job.stop.is_set():
        return False
    rec = job.rec
    folder = Path(rec.folder)
    images, attachments = job.take_inputs()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if images is not None:
            for name, img in zip(rec.input_files, images, strict=True):
                atomic_write(F.inside(folder, name), img.data)
        for key, (_, data) in attachments.items():
            atomic_write(F.inside(folder, rec.option_files[key]), data)
        if rec.copy_from:
            src = Path(rec.copy_from)
            for name in [*rec.input_files, *rec.option_files.values()]:
                atomic_write(F.inside(folder, name), F.inside(src, name).read_bytes())
    except OSError as exc:
        ctx.table.change(job, JobState.ERROR, phase="Cannot save inputs", error=(
            f"Cannot save the input images in the model library ({folder}): {exc.strerror or exc}. "
            "Check that the folder is writable and the disk has space, then submit again."))
        return False
    return True


def present(rec: JobRecord) -> bool:
    """Every saved input of the record is in its folder (what a create needs)."""
    folder = Path(rec.folder)
    names = [*rec.input_files, *rec.option_files.values()]
    try:
        return all(F.inside(folder, n).is_file() for n in names)
    except (OSError, ValueError):
        return False


def missing(rec: JobRecord) -> list[str]:
    """The saved inputs of the record that are not in its folder (a resubmit copies them)."""
    folder = Path(rec.folder)
    return [n for n in [*rec.input_files, *rec.option_files.values()] if not (folder / n).is_file()]


def model_on_disk(rec: JobRecord) -> bool:
    return (Path(rec.folder) / F.MODEL).is_file()
