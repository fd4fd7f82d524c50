"""Waiting between attempts: bounded exponential backoff with jitter, Retry-After, cancellable sleeps."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from .errors import CancelledError

__all__ = ["RetryPolicy", "check_cancel", "parse_retry_after", "wait"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: attempt n waits ``base_delay * 2**(n-1)`` (+-jitter)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25  # +-25 % spreads clients that failed together

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based); ``Retry-After`` wins."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        delay = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        if self.jitter:
            delay *= 1.0 + random.uniform(-self.jitter, self.jitter)
        return max(0.0, min(delay, self.max_delay))


def wait(seconds: float, cancel: threading.Event | None) -> None:
    """Sleep that a cancel Event interrupts (raises ``CancelledError``)."""
    event = cancel if cancel is not None else threading.Event()
    if event.wait(max(0.0, seconds)) and cancel is not None:
        raise CancelledError()


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
