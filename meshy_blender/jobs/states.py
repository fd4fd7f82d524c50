"""Job states and the transitions between them.

The journal stores the state as its string value, so values never change once released.
Transitions are checked (and logged when odd) so a bug shows up in the log and tests
instead of silently skipping a step that costs the user a paid task.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is. Lower-case aliases let callers write either spelling."""

    PREPARING = "preparing"  # record written; input files being saved; nothing sent yet
    QUEUED = "queued"  # waiting locally: a free slot, or Meshy's account queue is full
    SUBMITTING = "submitting"  # the create request may be on the wire (reconcile after a crash)
    PENDING = "pending"  # task exists on Meshy, waiting in its queue
    IN_PROGRESS = "in_progress"  # Meshy is generating
    SUCCEEDED = "succeeded"  # generation done, nothing downloaded yet
    DOWNLOADING = "downloading"
    CONVERTING = "converting"  # a background Blender turns model.glb into model.blend (jobs/converter.py)
    READY = "ready"  # files on disk, waiting for the main thread to import
    IMPORTING = "importing"
    IMPORTED = "imported"
    FAILED = "failed"  # Meshy says the task failed (its message is kept)
    CANCELED = "canceled"
    EXPIRED = "expired"  # download links died before we had the files
    ERROR = "error"  # something we can explain; see the job's error text
    UNKNOWN = "unknown"  # a submission Meshy has no record of; user may submit again

    preparing = "preparing"
    queued = "queued"
    submitting = "submitting"
    pending = "pending"
    in_progress = "in_progress"
    succeeded = "succeeded"
    downloading = "downloading"
    converting = "converting"
    ready = "ready"
    importing = "importing"
    imported = "imported"
    failed = "failed"
    canceled = "canceled"
    expired = "expired"
    error = "error"
    unknown = "unknown"


S = JobState

#: States in which the job still has work to do (on a worker or on the main thread).
ACTIVE = frozenset(
    {S.PREPARING, S.QUEUED, S.SUBMITTING, S.PENDING, S.IN_PROGRESS, S.SUCCEEDED, S.DOWNLOADING, S.CONVERTING,
     S.READY, S.IMPORTING}
)
#: States a worker thread carries on (READY/IMPORTING wait for the main thread instead).
WORKER = frozenset(ACTIVE - {S.READY, S.IMPORTING})
#: Finished, one way or another.
FINISHED = frozenset(set(JobState) - ACTIVE)
#: Finished without a model: the user may submit the saved inputs again.
RESUBMITTABLE = frozenset({S.UNKNOWN, S.ERROR, S.FAILED, S.CANCELED, S.EXPIRED})
#: The task exists on Meshy (or may): never create it again without the user asking.
REMOTE = frozenset({S.SUBMITTING, S.PENDING, S.IN_PROGRESS, S.SUCCEEDED, S.DOWNLOADING})

_ANY_ACTIVE_EXIT = {S.CANCELED, S.ERROR}

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.PREPARING: frozenset({S.QUEUED, S.SUBMITTING, *_ANY_ACTIVE_EXIT}),
    S.QUEUED: frozenset({S.QUEUED, S.SUBMITTING, *_ANY_ACTIVE_EXIT}),
    S.SUBMITTING: frozenset(
        {S.QUEUED, S.PENDING, S.IN_PROGRESS, S.SUCCEEDED, S.FAILED, S.UNKNOWN, *_ANY_ACTIVE_EXIT}
    ),
    S.PENDING: frozenset({S.IN_PROGRESS, S.SUCCEEDED, S.FAILED, S.EXPIRED, *_ANY_ACTIVE_EXIT}),
    S.IN_PROGRESS: frozenset({S.PENDING, S.SUCCEEDED, S.FAILED, S.EXPIRED, *_ANY_ACTIVE_EXIT}),
    S.SUCCEEDED: frozenset({S.DOWNLOADING, S.READY, S.EXPIRED, *_ANY_ACTIVE_EXIT}),
    S.DOWNLOADING: frozenset({S.DOWNLOADING, S.CONVERTING, S.READY, S.EXPIRED, *_ANY_ACTIVE_EXIT}),
    # Converting ends ready (model.blend complete, or no converter here: imported in-process).
    S.CONVERTING: frozenset({S.CONVERTING, S.READY, *_ANY_ACTIVE_EXIT}),
    S.READY: frozenset({S.IMPORTING, S.IMPORTED, S.DOWNLOADING, S.CONVERTING, *_ANY_ACTIVE_EXIT}),
    S.IMPORTING: frozenset({S.IMPORTED, S.READY, *_ANY_ACTIVE_EXIT}),
    # "Import again" and "retry" pick the job up from its files or from Meshy.
    S.IMPORTED: frozenset({S.IMPORTING, S.READY, S.CONVERTING, S.PENDING}),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset({S.PENDING, S.CONVERTING, S.READY}),
    S.EXPIRED: frozenset({S.PENDING, S.CONVERTING, S.READY}),
    # Retrying after an error picks up where the task is: watch, download or import.
    S.ERROR: frozenset(
        {S.QUEUED, S.PENDING, S.IN_PROGRESS, S.SUCCEEDED, S.DOWNLOADING, S.CONVERTING, S.READY, S.IMPORTING,
         S.FAILED, S.EXPIRED, S.CANCELED, S.ERROR}
    ),
    S.UNKNOWN: frozenset({S.PENDING, S.CANCELED}),
}


def can_transition(old: JobState | str, new: JobState | str) -> bool:
    """True if going from old to new is a step the engine is meant to take."""
    old, new = JobState(old), JobState(new)
    return old == new or new in TRANSITIONS[old]


def is_active(state: JobState | str) -> bool:
    return JobState(state) in ACTIVE
