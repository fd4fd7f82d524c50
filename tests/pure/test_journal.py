"""The job journal and its helpers, without any network: records, locks, states, reconcile, scheduler."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshy_blender.jobs import files as F
from meshy_blender.jobs.journal import SCHEMA, JobRecord, Journal
from meshy_blender.jobs.reconcile import WINDOW_AFTER_MS, WINDOW_BEFORE_MS, find_task
from meshy_blender.jobs.scheduler import Scheduler
from meshy_blender.jobs.states import ACTIVE, FINISHED, JobState, can_transition

ROOT = Path(__file__).resolve().parents[2]


def record(job_id="a1", state="pending", **kw) -> JobRecord:
    rec = JobRecord(id=job_id, kind="image-to-3d", created_at=time.time(), **kw)
    rec.set_state(state)
    return rec


# ------------------------------------------------------------------------------------ states


def test_states_match_the_contract():
    names = [s.value for s in JobState]
    assert names == ["preparing", "queued", "submitting", "pending", "in_progress", "succeeded", "downloading",
                     "converting", "ready", "importing", "imported", "failed", "canceled", "expired", "error",
                     "unknown"]
    assert {s.value for s in ACTIVE} == set(names[: names.index("importing") + 1])
    assert set(JobState) == ACTIVE | FINISHED and not ACTIVE & FINISHED
    assert JobState.ready is JobState.READY and JobState("ready") == "ready"
    assert str(JobState.IN_PROGRESS) == "in_progress"


def test_transitions():
    happy = ["preparing", "queued", "submitting", "pending", "in_progress", "succeeded", "downloading", "ready",
             "importing", "imported"]
    for a, b in itertools.pairwise(happy):
        assert can_transition(a, b), (a, b)
    assert can_transition("downloading", "converting") and can_transition("converting", "ready")
    assert can_transition("imported", "converting")  # Import Again with the model.blend gone
    assert not can_transition("converting", "imported")  # only the main thread lands a model
    assert can_transition("submitting", "unknown")
    assert can_transition("submitting", "queued")  # 429 queue full: nothing was created
    assert can_transition("in_progress", "canceled")
    assert not can_transition("failed", "pending")
    assert not can_transition("pending", "submitting")  # never create again once a task exists
    assert not can_transition("unknown", "submitting")
    for s in ACTIVE:
        assert can_transition(s, "error") and can_transition(s, "canceled")


# ------------------------------------------------------------------------------------ journal


def test_record_round_trip_and_history(tmp_path):
    j = Journal(tmp_path)
    rec = record(options={"texture_prompt": "wood"}, target={"scene": "Scene"})
    rec.set_state("in_progress")
    j.write(rec)
    data = json.loads((tmp_path / "a1.json").read_text())
    assert data["schema"] == SCHEMA and data["state"] == "in_progress"
    assert [h[0] for h in data["history"]] == ["pending", "in_progress"]
    back = j.read("a1")
    assert back == rec
    assert [r.id for r in j.load_all()] == ["a1"]
    assert not list(tmp_path.glob(".*.tmp")), "temp files must not be left behind"


def test_write_replaces_atomically(tmp_path):
    j = Journal(tmp_path)
    rec = record()
    j.write(rec)
    stop = threading.Event()
    seen_bad = []

    def reader():
        while not stop.is_set():
            try:
                json.loads((tmp_path / "a1.json").read_bytes())
            except ValueError as exc:  # a reader must never see half a record
                seen_bad.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        rec.phase = "x" * (i % 50)
        j.write(rec)
    stop.set()
    t.join()
    assert not seen_bad


@pytest.mark.parametrize(
    "content, why",
    [
        (b'{"schema": 1, "id": "bad1", "kind": "image-to-3d", "sta', "truncated"),
        (b"\x00\x00\x00\x00", "zeros after a crash"),
        (b'{"schema": 99, "id": "bad1", "kind": "image-to-3d", "state": "pending"}', "newer schema"),
        (b'{"id": "bad1", "kind": "image-to-3d", "state": "pending"}', "no schema"),
        (b'{"schema": 1, "id": "bad1", "kind": "image-to-3d", "state": "levitating"}', "unknown state"),
        (b'{"schema": 1, "id": "other", "kind": "image-to-3d", "state": "pending"}', "id mismatch"),
        (b'{"schema": 1, "id": "bad1", "kind": "image-to-3d", "state": "pending", "files": []}', "wrong type"),
        (b'{"schema": 1, "id": "bad1", "kind": "image-to-3d", "state": "pending", "created_at": "x"}', "bad time"),
        (b"[1, 2]", "not an object"),
    ],
)
def test_damaged_records_are_moved_aside(tmp_path, content, why):
    j = Journal(tmp_path)
    j.write(record("good1"))
    (tmp_path / "bad1.json").write_bytes(content)
    records = j.load_all()  # never raises
    assert [r.id for r in records] == ["good1"], why
    assert not (tmp_path / "bad1.json").exists()
    kept = list((tmp_path / "corrupt").glob("bad1.*.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    note = kept[0].with_suffix(".txt").read_text()
    assert "Reason:" in note


def test_unreadable_record_does_not_raise(tmp_path):
    j = Journal(tmp_path)
    (tmp_path / "dir1.json").mkdir()  # something that cannot be read as a file
    assert j.load_all() == []


def test_stale_temp_files_are_cleaned(tmp_path):
    j = Journal(tmp_path)
    stale = tmp_path / ".a1.json.123.456.tmp"
    stale.write_text("{half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / ".a2.json.123.456.tmp"
    fresh.write_text("{half")
    assert j.load_all() == []
    assert not stale.exists() and fresh.exists()


def test_archive_and_claimed_task_ids(tmp_path):
    j = Journal(tmp_path)
    j.write(record("j1", task_id="t1"))
    j.write(record("j2", task_id="t2"))
    j.archive("j1")
    assert [r.id for r in j.load_all()] == ["j2"]
    assert [r.id for r in j.archived()] == ["j1"]
    assert j.claimed_task_ids() == {"t1": "j1", "t2": "j2"}


def test_unsafe_ids_are_refused(tmp_path):
    j = Journal(tmp_path)
    for bad in ("../x", "a/b", "", "a" * 65, "a.b"):
        with pytest.raises(ValueError):
            j.path(bad)


# ------------------------------------------------------------------------------------ locks


def test_lock_excludes_a_second_owner_in_the_same_process(tmp_path):
    j1, j2 = Journal(tmp_path), Journal(tmp_path)
    lock = j1.lock("job1")
    assert lock is not None
    assert j2.lock("job1") is None
    assert j2.lock("job2") is not None
    lock.release()
    again = j2.lock("job1")
    assert again is not None
    again.release()


_HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from meshy_blender.jobs.journal import Journal
lock = Journal({folder!r}).lock("job1")
print("held" if lock else "busy", flush=True)
time.sleep(60)
"""


def test_lock_dies_with_a_killed_process(tmp_path):
    code = _HOLDER.format(root=str(ROOT), folder=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert Journal(tmp_path).lock("job1") is None  # a live process holds it
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        lock = Journal(tmp_path).lock("job1")  # the OS released it with the process
        assert lock is not None
        lock.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# ------------------------------------------------------------------------------------ files


def test_job_folders_stay_in_the_library(tmp_path):
    lib = tmp_path / "lib"
    for label in ("../../etc/passwd", "..", "/abs/path", "C:\\Windows\\x", "čaj ☕ / tea", "", "a" * 300):
        folder = F.job_folder(lib, label, "0123456789abcdef")
        assert folder.parent == lib.resolve(), label
        assert folder.name.endswith("-01234567")
    assert F.job_folder(lib, "Red cube", "abcdef0123").name == "Red cube-abcdef01"
    with pytest.raises(ValueError):
        F.inside(lib, "../outside.glb")
    with pytest.raises(ValueError):
        F.texture_file_name("../../evil")
    assert F.inside(lib, "textures/normal.png") == (lib / "textures/normal.png").resolve()
    assert F.input_file_name(2, "image/jpeg") == "input_2.jpg"
    with pytest.raises(ValueError):
        F.ext_for_mime("image/webp")


def test_data_uri_round_trip():
    uri = F.data_uri("image/png", b"\x89PNG123")
    assert F.parse_data_uri(uri) == ("image/png", b"\x89PNG123")
    assert F.parse_data_uri("https://example.com/x.png") is None


# ------------------------------------------------------------------------------------ reconcile


@dataclass
class FakeTask:  # the shape of meshy.task.Task that reconcile reads
    id: str
    created_at: int
    type: str = "image-to-3d"
    texture_prompt: str = ""


class TaskList:
    """The account's task list, newest first, paged like the API."""

    def __init__(self, tasks):
        self.tasks = sorted(tasks, key=lambda t: -t.created_at)
        self.calls = []

    def __call__(self, kind, page_num=1, page_size=10, sort_by="-created_at"):
        assert sort_by == "-created_at"
        self.calls.append(page_num)
        return self.tasks[(page_num - 1) * page_size : page_num * page_size]


def test_reconcile_finds_the_task_created_after_submission():
    t0 = 1_700_000_000_000
    tasks = TaskList([FakeTask("old", t0 - WINDOW_BEFORE_MS - 1), FakeTask("ours", t0 + 300),
                      FakeTask("later", t0 + 5_000), FakeTask("multi", t0 + 100, type="multi-image-to-3d")])
    assert find_task(tasks, "image-to-3d", t0, claimed=set()).id == "ours"
    assert find_task(tasks, "image-to-3d", t0, claimed={"ours"}).id == "later"
    assert find_task(tasks, "image-to-3d", t0, claimed={"ours", "later"}) is None
    assert find_task(tasks, "image-to-3d", t0 + WINDOW_AFTER_MS + 10_000, claimed=set()) is None
    prompt = TaskList([FakeTask("p", t0 + 10, texture_prompt="stone")])
    assert find_task(prompt, "image-to-3d", t0, set(), {"texture_prompt": "wood"}) is None
    assert find_task(prompt, "image-to-3d", t0, set(), {"texture_prompt": "stone"}).id == "p"


def test_reconcile_pages_until_older_than_the_window():
    t0 = 1_700_000_000_000
    newer = [FakeTask(f"n{i}", t0 + 20 * 60_000 + i) for i in range(60)]  # too new, two pages of them
    tasks = TaskList([*newer, FakeTask("ours", t0 + 50), *[FakeTask(f"o{i}", t0 - 10**7 - i) for i in range(200)]])
    assert find_task(tasks, "image-to-3d", t0, set()).id == "ours"
    assert tasks.calls == [1, 2]  # stopped once the page reached older tasks
    few = TaskList([FakeTask("x", t0 - 10**8)])
    assert find_task(few, "image-to-3d", t0, set()) is None and few.calls == [1]


# ------------------------------------------------------------------------------------ scheduler


def test_scheduler_bounds_concurrency_and_reschedules():
    running, peak, done = set(), [0], []
    lock = threading.Lock()
    again = {"b": 2}
    finished = threading.Event()

    def run(item):
        with lock:
            running.add(item)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.02)
        with lock:
            running.discard(item)
            if again.get(item):
                again[item] -= 1
                return 0.01
            done.append(item)
            if len(done) == 6:
                finished.set()
        return None

    s = Scheduler(2, run, "test-sched")
    for item in "abcdef":
        s.put(item)
    assert finished.wait(5)
    assert sorted(done) == list("abcdef") and peak[0] <= 2
    threads = s.threads()
    assert 1 <= len(threads) <= 2
    s.shutdown(wait=True, timeout=5)
    assert not any(t.is_alive() for t in threads)


def test_scheduler_delay_and_discard():
    ran = []
    s = Scheduler(1, lambda item: ran.append((item, time.monotonic())), "test-sched")
    t0 = time.monotonic()
    s.put("late", delay=0.15)
    s.put("gone", delay=0.05)
    s.discard("gone")
    s.put("now")
    time.sleep(0.3)
    s.shutdown(wait=True, timeout=5)
    assert [r[0] for r in ran] == ["now", "late"]
    assert ran[1][1] - t0 >= 0.14
    s.put("after-shutdown")
    assert not s.threads()


def test_scheduler_starts_a_worker_for_each_waiting_item():
    """Items put in a burst must all run at once when there are enough workers (no lost wake-up)."""
    for _ in range(20):
        release = threading.Event()
        started = []
        all_in = threading.Event()

        def run(item, started=started, release=release, all_in=all_in):
            started.append(item)
            if len(started) == 3:
                all_in.set()
            release.wait(5)

        s = Scheduler(4, run, "test-sched")
        for item in range(3):
            s.put(item)
        assert all_in.wait(2), f"only {started} started"
        release.set()
        s.shutdown(wait=True, timeout=5)
