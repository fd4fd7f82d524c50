"""Per-job OS file locks, so two live Blender processes never work the same job.

The OS drops the lock when the holder dies (even by SIGKILL), so the next process can
claim the job after a crash without any stale-lock guessing. Both backends lock per open
file (not per process), so two engines in one process exclude each other as well. The
backend is chosen once (BACKEND); tests run the Windows one against a stand-in msvcrt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class FlockBackend:
    """POSIX: flock(2) locks belong to the open file, so two handles in one process exclude each other."""

    def __init__(self) -> None:
        import fcntl

        self._fcntl = fcntl

    def try_lock(self, fd: int) -> bool:
        try:
            self._fcntl.flock(fd, self._fcntl.LOCK_EX | self._fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def unlock(self, fd: int) -> None:
        try:
            self._fcntl.flock(fd, self._fcntl.LOCK_UN)
        except OSError:
            pass


class MsvcrtBackend:
    """Windows: msvcrt.locking locks bytes from the handle's current position; we lock byte 0.

    Windows locks belong to the handle and are mandatory (others cannot read the locked byte),
    and the system frees them when the handle closes or the process ends.
    """

    def __init__(self, msvcrt: Any) -> None:
        self._msvcrt = msvcrt

    def try_lock(self, fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            self._msvcrt.locking(fd, self._msvcrt.LK_NBLCK, 1)  # NB: raises at once instead of retrying
            return True
        except OSError:
            return False

    def unlock(self, fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            self._msvcrt.locking(fd, self._msvcrt.LK_UNLCK, 1)
        except OSError:
            pass


def platform_backend() -> FlockBackend | MsvcrtBackend:
    """msvcrt where it exists (Windows), flock elsewhere (Linux, macOS)."""
    try:
        import msvcrt
    except ImportError:
        return FlockBackend()
    return MsvcrtBackend(msvcrt)


BACKEND = platform_backend()


class FileLock:
    """An exclusive, non-blocking lock on one file; release() or process death frees it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._backend = BACKEND

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; never waits."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        if not self._backend.try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        try:  # who holds it, for a human looking at the folder
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            self._backend.unlock(fd)
            os.close(fd)

    def __enter__(self) -> FileLock:
        if not self.acquire():
            raise BlockingIOError(f"{self.path} is locked by another process")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock must not outlive its owner object
        try:
            self.release()
        except Exception:
            pass
