"""Helpers for the job-engine tests (no tests here): images, engines bound to a local server, waiting."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from meshy_blender.jobs import JobEngine, JobEvent, JobView
from meshy_blender.meshy.client import MeshyClient, RetryPolicy

KEY = "msy_dummy_api_key_for_test_mode_12345678"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.02, max_delay=0.2, jitter=0.0)


def png(width: int = 8, height: int = 8, rgba: tuple[int, int, int, int] = (200, 30, 30, 255)) -> bytes:
    """A real, small RGBA PNG."""
    row = b"\x00" + bytes(rgba) * width
    raw = row * height

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def client_factory(server, key: str = KEY):
    """What the Blender side passes: a closure over plain strings, called in worker threads."""
    url = server.url

    def factory():
        return MeshyClient(key, url, retry=FAST_RETRY, connect_timeout=5, read_timeout=10)

    return factory


class EngineKit:
    """Engines for one test, all shut down (and their threads joined) at the end."""

    FAST = dict(queue_full_delay=0.05, queue_full_max_delay=0.2, retry_delay=0.05, retry_max_delay=0.3,
                reconcile_delays=(0.05, 0.1), poll_interval=0.1, event_interval=0.0)

    def __init__(self, server, root: Path):
        self.server = server
        self.root = Path(root)
        self.journal_dir = self.root / "journal"
        self.library_dir = self.root / "library"
        self.engines: list[JobEngine] = []
        self.events: dict[int, list[JobEvent]] = {}

    def engine(self, key: str = KEY, **kw) -> JobEngine:
        opts = {**self.FAST, **kw}
        eng = JobEngine(self.journal_dir, self.library_dir, client_factory(self.server, key), **opts)
        self.engines.append(eng)
        self.events[id(eng)] = []
        return eng

    def drain(self, eng: JobEngine, timeout: float | None = None) -> list[JobEvent]:
        got = eng.poll_events(max_events=1000, timeout=timeout)
        self.events[id(eng)].extend(got)
        return got

    def wait(self, eng: JobEngine, job_id: str, *states: str, timeout: float = 15.0) -> JobView:
        """Pump events like the main thread would, until the job is in one of states."""
        deadline = time.monotonic() + timeout
        while True:
            self.drain(eng, timeout=0.05)
            view = eng.get(job_id)
            if view is not None and view.state in states:
                self.drain(eng)
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {view and view.state} ({view and view.phase}; "
                                     f"{view and view.error}), wanted {states}")

    def seen(self, eng: JobEngine, job_id: str) -> list[JobEvent]:
        return [e for e in self.events[id(eng)] if isinstance(e, JobEvent) and e.job_id == job_id]

    def close(self) -> None:
        for eng in self.engines:
            eng.shutdown(wait=True)
        for eng in self.engines:
            leftover = [t for t in eng.threads() if t.is_alive()]
            assert not leftover, f"threads left running: {leftover}"


def journal_record(kit: EngineKit, job_id: str) -> dict:
    import json

    return json.loads((kit.journal_dir / f"{job_id}.json").read_text())


def states_of(kit: EngineKit, job_id: str) -> list[str]:
    """The job's journaled state history, repeats folded."""
    out: list[str] = []
    for state, _ in journal_record(kit, job_id)["history"]:
        if not out or out[-1] != state:
            out.append(state)
    return out


def head(path: str | Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def meshy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("meshy-job", "meshy-io"))]


@pytest.fixture
def kit(make_server, tmp_path):
    kits = []

    def make(**server_kw) -> EngineKit:
        k = EngineKit(make_server(**server_kw), tmp_path / f"k{len(kits)}")
        kits.append(k)
        return k

    yield make
    for k in kits:
        k.close()
