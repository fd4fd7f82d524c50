"""A job's input files in its library folder: saved by a worker thread, kept for "Submit again".

submit() only hands the bytes over; saving them (or copying them from the job a resubmit came
from) runs here, on the engine's I/O thread, so the caller never waits on the disk. A deferred
image (UploadImage.encode) is encoded here first and checked against Meshy's limit, so a job whose
image cannot be made or is too large ends in error before anything is sent.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..meshy.errors import ReportableError
from ..meshy.upload import check_image_size
from . import files as F
from .context import WorkerContext
from .journal import JobRecord, atomic_write
from .live import LiveJob
from .model import UploadImage
from .states import JobState

log = logging.getLogger(__name__)

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
        encoded = None if images is None else [_bytes_of(img) for img in images]
    except ReportableError as exc:
        ctx.table.change(job, JobState.ERROR, phase="Cannot prepare the image", error=exc.user_message)
        return False
    del images  # a deferred image's pixels (up to 1 GiB) are not needed any more
    if job.stop.is_set():
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in zip(rec.input_files, encoded or [], strict=encoded is not None):
            atomic_write(F.inside(folder, name), data)
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


class PreparationError(ReportableError):
    """A deferred image could not be encoded; the message names the image and what to do."""


def _bytes_of(img: UploadImage) -> bytes:
    """The image's bytes, encoding a deferred one now; checked against Meshy's limit (ValidationError)."""
    if not img.deferred:
        return img.data
    assert img.encode is not None
    try:
        data = img.encode()
    except ReportableError:
        raise
    except Exception as exc:  # numpy/zlib failures, out of memory: the job says so, nothing is sent
        log.exception("encoding the upload of %r failed", img.name)
        raise PreparationError(
            f"'{img.name}' could not be converted for upload ({type(exc).__name__}: {exc}). Nothing was sent "
            "to Meshy: submit it again, or save the image as PNG or JPEG and send that file."
        ) from None
    if not data:
        raise PreparationError(f"'{img.name}' was converted to an empty file. Nothing was sent to Meshy: "
                               "save the image as PNG or JPEG and send that file.")
    check_image_size(img.name, img.mime, len(data))
    return data


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
