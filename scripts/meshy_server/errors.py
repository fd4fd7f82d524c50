"""The server's error answers: one exception per HTTP error, the drop-the-connection signal, key masking."""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP error answer with a JSON body."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"message": message} if code is None else {"code": code, "message": message}
        self.headers = headers or {}


class Abort(Exception):
    """Unwind a handler after the connection was deliberately dropped."""


def mask_key(key: str | None) -> str:
    """Keys are never logged in full: only their last 4 characters."""
    return "****" + (key or "")[-4:]


def queue_full() -> ApiError:
    return ApiError(
        429,
        "NoMoreConcurrentTasks: the number of concurrent unfinished tasks has reached your account limit",
        code="NoMoreConcurrentTasks",
    )


def no_credits(cost: int, have: int) -> ApiError:
    return ApiError(402, f"Insufficient credits to perform this task: needs {cost}, balance {have}")


def rate_limited(headers: dict) -> ApiError:
    return ApiError(
        429, "RateLimitExceeded: too many requests per second", code="RateLimitExceeded", headers=headers
    )
