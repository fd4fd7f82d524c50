"""Code that runs only on Windows, run here with the platform faked where that is honest.

- File locks: jobs/locks.py's Windows backend (msvcrt.locking on byte 0) runs against
  fake_msvcrt, which keeps Windows' semantics and is backed by real per-handle kernel locks
  (see its docstring for what it cannot keep). The same tests run on the real flock backend.
- Path rules: files.job_folder applies Windows' MAX_PATH refusal when files._WINDOWS says so.
Not exercised here (no Windows or macOS machine): real LockFileEx (mandatory locks), NTFS itself,
Explorer / Finder opening a folder, macOS file systems' normalization.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import fake_msvcrt
import pytest
from test_engine_support import head, png

from meshy_blender.jobs import JobSpec, Journal, UploadImage, locks

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
needs_ofd = pytest.mark.skipif(not fake_msvcrt.AVAILABLE, reason="the msvcrt stand-in needs Linux OFD locks")


@pytest.fixture(params=["posix-flock", "windows-msvcrt"])
def backend(request, monkeypatch):
    """Each lock test runs on both backends; the Windows one is chosen as on Windows (msvcrt importable)."""
    if request.param == "windows-msvcrt":
        if not fake_msvcrt.AVAILABLE:
            pytest.skip("the msvcrt stand-in needs Linux OFD locks")
        monkeypatch.setitem(sys.modules, "msvcrt", fake_msvcrt)
    chosen = locks.platform_backend()
    assert type(chosen).__name__ == ("MsvcrtBackend" if request.param == "windows-msvcrt" else "FlockBackend")
    monkeypatch.setattr(locks, "BACKEND", chosen)
    yield request.param
    if request.param == "windows-msvcrt":
        fake_msvcrt.forget_all()


@needs_ofd
def test_the_stand_in_has_windows_semantics(tmp_path):
    path = tmp_path / "f.lock"
    a = os.open(path, os.O_RDWR | os.O_CREAT)
    b = os.open(path, os.O_RDWR)
    try:
        fake_msvcrt.locking(a, fake_msvcrt.LK_NBLCK, 1)  # byte 0 (position 0), past the end of an empty file
        with pytest.raises(OSError):
            fake_msvcrt.locking(b, fake_msvcrt.LK_NBLCK, 1)  # another handle in the same process
        os.lseek(b, 5, os.SEEK_SET)
        fake_msvcrt.locking(b, fake_msvcrt.LK_NBLCK, 1)  # byte 5: another region, from b's position
        os.lseek(a, 0, os.SEEK_SET)
        with pytest.raises(OSError):
            fake_msvcrt.locking(a, fake_msvcrt.LK_NBLCK, 1)  # not twice, not even through the same handle
        os.lseek(b, 0, os.SEEK_SET)
        with pytest.raises(OSError):
            fake_msvcrt.locking(b, fake_msvcrt.LK_UNLCK, 1)  # only the holder unlocks
        with pytest.raises(OSError):
            fake_msvcrt.locking(a, fake_msvcrt.LK_UNLCK, 2)  # and only the bytes it locked
        fake_msvcrt.locking(a, fake_msvcrt.LK_UNLCK, 1)
        fake_msvcrt.locking(b, fake_msvcrt.LK_NBLCK, 1)  # free once unlocked
        os.close(b)
        b = -1
        with pytest.raises(OSError):  # closed without unlocking: Windows frees it only "eventually"
            fake_msvcrt.locking(a, fake_msvcrt.LK_NBLCK, 1)
    finally:
        fake_msvcrt.forget_all()
        os.close(a)
        if b >= 0:
            os.close(b)


def test_lock_excludes_a_second_owner_in_the_same_process(tmp_path, backend):
    j1, j2 = Journal(tmp_path), Journal(tmp_path)
    lock = j1.lock("job1")
    assert lock is not None and lock.held
    assert j2.lock("job1") is None
    other = j2.lock("job2")
    assert other is not None
    lock.release()
    again = j2.lock("job1")
    assert again is not None, "release() frees the lock (the unlock must find byte 0 again)"
    assert (tmp_path / "locks" / "job1.lock").read_text().strip() == str(os.getpid())
    for held in (again, other):
        held.release()


def test_a_dropped_lock_object_frees_the_job(tmp_path, backend):
    lock = Journal(tmp_path).lock("job1")
    assert lock is not None
    del lock
    again = Journal(tmp_path).lock("job1")
    assert again is not None
    again.release()


_HOLDER = """
import sys, time
sys.path[:0] = [{root!r}, {here!r}]
if {windows!r}:
    import fake_msvcrt
    sys.modules["msvcrt"] = fake_msvcrt
from meshy_blender.jobs import locks
assert type(locks.BACKEND).__name__ == {name!r}, locks.BACKEND
from meshy_blender.jobs.journal import Journal
lock = Journal({folder!r}).lock("job1")
print("held" if lock else "busy", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_lock_dies_with_a_killed_process(tmp_path, backend):
    windows = backend == "windows-msvcrt"
    code = _HOLDER.format(root=str(ROOT), here=str(HERE), windows=windows, folder=str(tmp_path),
                          name="MsvcrtBackend" if windows else "FlockBackend")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert Journal(tmp_path).lock("job1") is None, "a live process holds it"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        lock = Journal(tmp_path).lock("job1")
        assert lock is not None, "the OS released it with the process"
        lock.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_two_engines_share_a_journal_and_work_each_job_once(kit, backend):
    """Windows' engine path end to end: a job submitted by one engine is not taken by a second."""
    k = kit(task_seconds=0.3)
    first = k.engine()
    job_id = first.submit(JobSpec(kind="image-to-3d", images=[UploadImage("photo.png", "image/png", png())]))
    second = k.engine()
    assert second.recover() == [], "the first engine holds the job's lock"
    view = k.wait(first, job_id, "ready")
    assert head(view.files["model"], 4) == b"glTF"
    assert k.server.stats()["creates"] == 1
