"""What the engine offers besides jobs: slots and library folder changed while running, account
look-ups on its own threads, and the pieces workers use (live job counters, create turns, settings)."""

from __future__ import annotations

import base64
import dataclasses
import threading
import time
from pathlib import Path

import pytest
from test_engine_support import FAST_RETRY, KEY, EngineKit, client_factory, png

from meshy_blender.jobs import AccountEvent, EngineClosed, EngineSettings, JobEngine, JobRecord, JobSpec, UploadImage
from meshy_blender.jobs.live import LiveJob
from meshy_blender.jobs.turns import CreateTurns
from meshy_blender.meshy.client import MeshyClient


def spec(label: str) -> JobSpec:
    return JobSpec("image-to-3d", [UploadImage(f"{label}.png", "image/png", png())], label=label)


def job_threads(eng: JobEngine) -> list[threading.Thread]:
    return [t for t in eng.threads() if t.name.startswith("meshy-job")]


def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ------------------------------------------------------------------------------------ concurrency
def test_more_slots_start_queued_jobs_at_once(kit):
    k = kit(task_seconds=30)
    eng = k.engine(max_concurrent=1)
    ids = [eng.submit(spec(f"j{i}")) for i in range(3)]
    deadline = time.monotonic() + 15  # whichever job's inputs are saved first takes the one slot
    while not (started := [i for i in ids if eng.get(i).state in ("pending", "in_progress")]):
        assert time.monotonic() < deadline, [eng.get(i).state for i in ids]
        k.drain(eng, timeout=0.05)
    time.sleep(0.3)
    k.drain(eng)
    waiting = [i for i in ids if i not in started]
    assert [eng.get(i).state for i in waiting] == ["queued", "queued"], "one slot: the others wait"
    assert k.server.stats()["creates"] == 1
    eng.set_max_concurrent(3)
    assert eng.max_concurrent == 3
    for job_id in waiting:
        k.wait(eng, job_id, "pending", "in_progress", timeout=20)  # a loaded machine is slow, not wrong
    assert k.server.stats()["creates"] == 3 and len(job_threads(eng)) == 3


def test_fewer_slots_let_running_jobs_finish(kit):
    k = kit(task_seconds=30)
    eng = k.engine(max_concurrent=3)
    ids = [eng.submit(spec(f"j{i}")) for i in range(3)]
    views = [k.wait(eng, job_id, "pending", "in_progress") for job_id in ids]
    eng.set_max_concurrent(1)
    late = eng.submit(spec("late"))
    k.wait(eng, late, "queued")
    time.sleep(0.3)
    k.drain(eng)
    assert [eng.get(i).state for i in ids] == [v.state for v in views], "running jobs are not interrupted"
    assert all(not eng.get(i).error for i in ids)
    for view in views[:2]:
        k.server.set_task(view.task_id, status="SUCCEEDED")
        k.wait(eng, view.id, "ready")
    time.sleep(0.3)
    k.drain(eng)
    assert eng.get(late).state == "queued", "one job still runs: that is the new limit"
    assert k.server.stats()["creates"] == 3
    until(lambda: len(job_threads(eng)) == 1)  # the threads over the limit end once their job let go
    k.server.set_task(views[2].task_id, status="SUCCEEDED")
    k.wait(eng, views[2].id, "ready")
    k.wait(eng, late, "pending", "in_progress", "ready")
    assert k.server.stats()["creates"] == 4 and len(job_threads(eng)) <= 1


# ------------------------------------------------------------------------------------ library folder
def test_new_jobs_go_to_the_new_library_folder(kit, tmp_path):
    k = kit()
    eng = k.engine()
    before = eng.submit(spec("before"))  # its inputs are saved after the change: its folder stays
    elsewhere = tmp_path / "elsewhere"
    eng.set_library_dir(elsewhere)
    assert eng.library_dir == elsewhere
    after = eng.submit(spec("after"))
    old, new = k.wait(eng, before, "ready"), k.wait(eng, after, "ready")
    assert Path(old.folder).parent == k.library_dir.resolve()
    assert Path(new.folder).parent == elsewhere.resolve()
    assert (Path(old.folder) / "input_0.png").is_file() and Path(old.files["model"]).is_file()
    assert (Path(new.folder) / "input_0.png").is_file() and Path(new.files["model"]).parent == Path(new.folder)
    eng.mark_import_failed(before, "pretend the import failed")
    again = eng.resubmit(before)  # a new job: it goes where new jobs go now
    assert Path(k.wait(eng, again, "ready").folder).parent == elsewhere.resolve()


# ------------------------------------------------------------------------------------ account look-ups
class CountingClient(MeshyClient):
    """A real client that remembers whether it was closed and on which thread it was made."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.closed = 0
        self.thread = threading.current_thread().name

    def close(self) -> None:
        self.closed += 1
        super().close()


def counting_engine(k: EngineKit, key: str = KEY) -> tuple[JobEngine, list[CountingClient]]:
    made: list[CountingClient] = []

    def factory():
        client = CountingClient(key, k.server.url, retry=FAST_RETRY, connect_timeout=5, read_timeout=10)
        made.append(client)
        return client

    eng = JobEngine(k.journal_dir, k.library_dir, factory, **EngineKit.FAST)
    k.engines.append(eng)
    k.events[id(eng)] = []
    return eng, made


def answer(k: EngineKit, eng: JobEngine, what: str) -> AccountEvent:
    deadline = time.monotonic() + 10
    while True:
        for event in k.drain(eng, timeout=0.05):
            if isinstance(event, AccountEvent) and event.what == what:
                return event
        assert time.monotonic() < deadline, f"no answer to the {what} look-up"


def test_account_lookups_answer_as_events_from_the_engine_threads(kit):
    k = kit()
    uri = "data:image/png;base64," + base64.b64encode(png()).decode()
    task_id = client_factory(k.server)().create("image-to-3d", {"image_url": uri})
    eng, made = counting_engine(k)
    assert eng.look_up("balance") is True
    assert eng.look_up("balance") is False, "one balance look-up at a time"
    assert eng.looking_up("balance") and eng.looking_up()
    event = answer(k, eng, "balance")
    assert (event.result, event.error) == (k.server.test_balance(), "")
    assert not eng.looking_up(), "answered once the event is handed out"
    assert eng.look_up("history")
    event = answer(k, eng, "history")
    assert event.error == "" and [(kind, t.id) for kind, t in event.result] == [("image-to-3d", task_id)]
    assert len(made) == 2 and all(c.closed == 1 for c in made), "every look-up closes its client"
    assert all(c.thread.startswith("meshy-io") for c in made), "on the engine's I/O threads, not a thread of its own"
    with pytest.raises(ValueError):
        eng.look_up("credit card")
    eng.shutdown(wait=True)
    with pytest.raises(EngineClosed):
        eng.look_up("balance")


def test_failed_lookup_says_why_and_closes_its_client(kit):
    k = kit()
    eng, made = counting_engine(k, key="msy_not_a_valid_key_at_all_0000000000")
    eng.look_up("balance")
    event = answer(k, eng, "balance")
    assert event.result is None and "API key" in event.error
    assert [c.closed for c in made] == [1]
    assert eng.look_up("balance"), "a failed look-up can be asked again"


# ------------------------------------------------------------------------------------ worker pieces
def test_live_job_counters_are_exact_under_threads():
    job = LiveJob(JobRecord(id="j", kind="image-to-3d"), None)

    def hammer():
        for _ in range(20_000):
            job.count("retries")
            job.count("queue_full")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert job.counts() == {"retries": 160_000, "queue_full": 160_000, "download_failures": 0}
    job.reset_counts("retries")
    assert job.counts()["retries"] == 0 and job.counts()["queue_full"] == 160_000
    job.keep_task("task", new_result=True)
    assert job.refresh_links_once() and not job.refresh_links_once(), "fresh links once per result"
    job.reset_counts()
    assert job.counts() == {"retries": 0, "queue_full": 0, "download_failures": 0}
    assert job.refresh_links_once(), "Retry starts afresh"
    assert job.take_inputs() == (None, {}) and job.task == "task"


def test_create_turn_is_one_per_task_type_and_lets_a_stopped_job_go(tmp_path):
    turns = CreateTurns(tmp_path, ("image-to-3d", "multi-image-to-3d"))
    a = LiveJob(JobRecord(id="a", kind="image-to-3d"), None)
    b = LiveJob(JobRecord(id="b", kind="image-to-3d"), None)
    other = LiveJob(JobRecord(id="c", kind="multi-image-to-3d"), None)
    got = {}
    with turns.take(a) as mine:
        assert mine
        with turns.take(other) as theirs:
            got["other kind"] = theirs  # another task type never waits

        def wait_for_turn():
            with turns.take(b) as turn:
                got["b"] = turn

        waiter = threading.Thread(target=wait_for_turn)
        waiter.start()
        time.sleep(0.3)
        assert "b" not in got, "the same task type waits for the turn"
        t0 = time.monotonic()
        b.stop.set()
        waiter.join(2)
        assert got["b"] is False and time.monotonic() - t0 < 1, "a stopped job stops waiting"
    assert got["other kind"] is True
    b.stop.clear()
    with turns.take(b) as mine:
        assert mine, "the turn is free again"


def test_settings_are_frozen_and_checked(kit):
    settings = EngineSettings(retry_delay=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.retry_delay = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        EngineSettings(poll_interval=-1)
    k = kit()
    with pytest.raises(TypeError):
        JobEngine(k.journal_dir, k.library_dir, client_factory(k.server), settings=settings, retry_delay=1.0)
    eng = JobEngine(k.journal_dir, k.library_dir, client_factory(k.server), settings=settings)
    k.engines.append(eng)
    assert eng.settings is settings and k.engine(poll_interval=0.2).settings.poll_interval == 0.2
