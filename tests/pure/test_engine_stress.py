"""The engine's lock discipline under load, over real HTTP against the local server with faults.

Many jobs at once; while they run, the main thread cancels some, removes others, changes the
number of slots and restarts the engine (shut down, a new engine recovers the journal), and
the server resets connections, answers 5xx / 429, loses create answers and truncates downloads.
Afterwards: no job lost, no task created twice (the server's create count), every journal record
agrees with the engine's view, and no thread raised or logged an error or an odd transition.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time

from test_engine_support import head, png

from meshy_blender.jobs import JobEvent, JobSpec, UploadImage
from meshy_blender.jobs.states import WORKER

JOBS = 30
SETTLED = {"ready", "canceled", "unknown"}  # unknown: a create lost on the wire, never resent on its own


class Problems(logging.Handler):
    """Errors logged anywhere in the add-on, and transitions the state machine did not expect."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record):
        text = record.getMessage()
        if record.levelno >= logging.ERROR or "unexpected transition" in text:
            self.records.append(f"{record.name}: {text}")


def spec(i: int) -> JobSpec:
    return JobSpec("image-to-3d", [UploadImage(f"p{i}.png", "image/png", png(8 + i % 5, 8))], label=f"s{i}")


def pump(k, eng, seconds: float) -> None:
    """What the main thread does between user actions: drain events for a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        k.drain(eng, timeout=0.02)


FAULTS = dict(http_5xx=3, rate_limit=3, retry_after=0, queue_full=4, reset_after_send=3, reset_connections=4,
              truncate_downloads=4, stream_drop_after=1, stream_drops=4)


def unreconciled(k) -> set[str]:
    """Jobs canceled while their create was on the wire that still look for their task (remote.py)."""
    found = set()
    for p in k.journal_dir.glob("*.json"):
        try:
            if json.loads(p.read_text()).get("unreconciled"):
                found.add(p.stem)
        except ValueError:
            pass  # being replaced right now
    return found


def test_many_jobs_with_faults_cancels_removals_and_restarts(kit):
    k = kit(task_seconds=0.5)
    problems = Problems()
    package_log = logging.getLogger("meshy_blender")
    package_log.addHandler(problems)
    raised: list[str] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: raised.append(f"{args.thread.name}: {args.exc_type.__name__}: "
                                                       f"{args.exc_value}")
    rng = random.Random(1042)
    try:
        eng = k.engine(max_concurrent=4, download_textures=False)
        ids = [eng.submit(spec(i)) for i in range(JOBS)]
        canceled: dict[str, str] = {}  # job id -> its state right after cancel() (canceled, or already finished)
        removed: set[str] = set()
        deleted: set[str] = set()
        untouched = list(ids)
        rng.shuffle(untouched)
        for round_ in range(4):
            k.server.set_faults(**FAULTS)  # every engine meets every fault
            pump(k, eng, 0.2 + 0.15 * round_)
            for _ in range(2):  # whatever state they are in right now
                job_id = untouched.pop()
                eng.cancel(job_id)
                canceled[job_id] = str(eng.get(job_id).state)
                job_id = untouched.pop()
                eng.remove(job_id)
                removed.add(job_id)
            with_task = [v.id for v in eng.jobs() if v.task_id and v.id in untouched]
            if with_task:  # the I/O thread deletes it on Meshy while its worker may still watch it
                job_id = rng.choice(with_task)
                untouched.remove(job_id)
                eng.delete_remote(job_id)
                deleted.add(job_id)
            eng.set_max_concurrent(rng.choice((2, 3, 6)))
            pump(k, eng, 0.15)
            for job_id in deleted:  # a delete asked for just before a restart is not carried over
                until_deleted = time.monotonic() + 10
                while eng.get(job_id) and eng.get(job_id).phase == "Deleting on Meshy…":
                    assert time.monotonic() < until_deleted, eng.get(job_id)
                    k.drain(eng, timeout=0.02)
            eng.shutdown(wait=True)  # a restart mid-flight: the journal carries every job on
            eng = k.engine(max_concurrent=rng.choice((3, 4, 5)), download_textures=False)
            eng.recover()

        deadline = time.monotonic() + 90
        while any(v.state in WORKER for v in eng.jobs()) or unreconciled(k):
            assert time.monotonic() < deadline, [(v.label, v.state, v.phase, v.error) for v in eng.jobs()
                                                 if v.state in WORKER or v.id in unreconciled(k)]
            k.drain(eng, timeout=0.05)
        k.drain(eng)
        eng.shutdown(wait=True)
    finally:
        threading.excepthook = old_hook
        package_log.removeHandler(problems)

    views = {v.id: v for v in eng.jobs()}
    # No job lost: every job is listed (or archived, if the user removed it), and none is stuck.
    assert set(views) == set(ids) - removed
    archived = {p.stem for p in (k.journal_dir / "archive").glob("*.json")}
    assert removed <= archived and not archived & set(views)
    for job_id, state in canceled.items():
        assert views[job_id].state == state, (views[job_id], state)
    for job_id in deleted:  # deleted, or (a DELETE that met every fault in a row) saying so
        outcome = (views[job_id].state, views[job_id].phase)
        assert outcome in {("canceled", "Deleted on Meshy's server"), ("error", "Delete failed")}, views[job_id]
    unsettled = [(v.label, v.state, v.phase, v.error) for v in views.values()
                 if v.state not in SETTLED and v.id not in deleted]
    assert not unsettled
    ready = [v for v in views.values() if v.state == "ready"]
    survivors = set(views) - set(canceled) - deleted
    assert len(ready) >= len(survivors) // 2, "faults delay jobs; they do not fail them"
    for view in views.values():
        if view.state == "unknown":  # its create died on the wire before Meshy acted: never resent by itself
            assert view.task_id is None and "Submit again" in view.error

    # No double create: every task Meshy made belongs to exactly one job's record.
    records = [json.loads(p.read_text()) for p in k.journal_dir.glob("*.json")]
    records += [json.loads(p.read_text()) for p in (k.journal_dir / "archive").glob("*.json")]
    task_ids = [r["task_id"] for r in records if r.get("task_id")]
    assert len(task_ids) == len(set(task_ids)), "two jobs hold the same task"
    assert k.server.stats()["creates"] == len(task_ids), "a task was created twice, or its record lost it"

    # The journal says what the engine says.
    on_disk = {r["id"]: r for r in records}
    for view in views.values():
        rec = on_disk[view.id]
        assert (rec["state"], rec["task_id"], rec["error"]) == (str(view.state), view.task_id, view.error)
        assert set(rec["files"]) == set(view.files)
    for view in ready:
        assert head(view.files["model"], 4) == b"glTF"

    # Every thread behaved: nothing raised, nothing logged an error or an unexpected transition.
    assert raised == []
    assert problems.records == []
    assert not [v for v in views.values() if "Unexpected error" in v.error]
    events = [e for evs in k.events.values() for e in evs if isinstance(e, JobEvent)]
    assert sum(1 for e in events if e.ready) >= len(ready)
