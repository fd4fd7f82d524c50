"""A stand-in for Windows' ``msvcrt.locking``, with its semantics, for running the Windows lock code here.

What it keeps of Windows (CRT ``_locking`` over ``LockFileEx``):
- a lock covers ``nbytes`` bytes from the handle's *current position*, and bytes past the end count;
- it belongs to the handle, not the process: a second handle in the same process is refused;
- a region cannot be locked twice, not even through the same handle, and unlocking bytes that
  are not locked fails (both OSError EACCES);
- LK_NBLCK / LK_NBRLCK fail at once with OSError (EACCES); LK_LOCK / LK_RLCK try 10 times, 1 s
  apart, then fail with OSError (EDEADLOCK); LK_RLCK is exclusive too;
- the end of the process frees its locks; closing a handle that still holds locks frees them only
  "depending upon available system resources" (LockFileEx's documentation: unlock explicitly).
  Here such a lock stays until the process ends, the worst case, so code that forgets to unlock
  (or unlocks the wrong bytes) is caught.
It is backed by Linux's open-file-description locks (F_OFD_SETLK), which are per open file and
byte-ranged like Windows' and freed by the kernel when the holder dies, so the cross-process
behaviour is real, not simulated. What it does not have: Windows' locks are mandatory (another
handle cannot read or write locked bytes); these are advisory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time

LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4
AVAILABLE = hasattr(fcntl, "F_OFD_SETLK")


def _flock(kind: int, start: int, length: int) -> bytes:
    # struct flock on Linux x86_64/aarch64: short type, short whence, off_t start, off_t len, pid_t pid (+pad)
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, start, length, 0)


# (device, inode, start, length) of each locked region -> a duplicate of the handle that locked it:
# the duplicate keeps the lock alive after the handle is closed, until LK_UNLCK or the process ends.
_locked: dict[tuple[int, int, int, int], int] = {}


def _region(fd: int, start: int, nbytes: int) -> tuple[int, int, int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino, start, nbytes


def _same_handle(fd: int, start: int, nbytes: int) -> bool:
    """Whether fd's own open file holds the lock (F_OFD_GETLK sees only other holders' locks)."""
    got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock(fcntl.F_WRLCK, start, nbytes))
    return struct.unpack("hhqqi4x", got)[0] == fcntl.F_UNLCK


def forget_all() -> None:
    """Drop every lock this process still holds (what the end of the process does)."""
    while _locked:
        os.close(_locked.popitem()[1])


def locking(fd: int, mode: int, nbytes: int) -> None:
    start = os.lseek(fd, 0, os.SEEK_CUR)
    region = _region(fd, start, nbytes)
    if mode == LK_UNLCK:
        if region not in _locked or not _same_handle(fd, start, nbytes):
            raise OSError(errno.EACCES, "Permission denied")
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_UNLCK, start, nbytes))
        os.close(_locked.pop(region))
        return
    if mode not in (LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK):
        raise ValueError(f"bad locking mode {mode}")
    attempts = 1 if mode in (LK_NBLCK, LK_NBRLCK) else 10
    for attempt in range(attempts):
        try:
            if region in _locked:
                raise OSError(errno.EACCES, "already locked in this process")
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK, start, nbytes))
            _locked[region] = os.dup(fd)
            return
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
        if attempt + 1 < attempts:
            time.sleep(1.0)
    if attempts == 1:
        raise OSError(errno.EACCES, "Permission denied")
    raise OSError(errno.EDEADLOCK, "Resource deadlock avoided")
