"""One exception tree for everything the Meshy client can raise, and the root of every add-on error.

Every error carries a ``user_message`` a person can act on; ``str(err)`` is the same text, so
the UI can show any ``MeshyError`` as-is.  No message ever contains the API key: the client
redacts server text before building errors and never puts request headers into messages.
The add-on's other error types (bad input, failed import, a job that ended without a model)
derive from ``ReportableError`` too, so everything shown to the user is read one way:
``user_message_of(exc)``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "CABundleError",
    "CancelledError",
    "CertificateError",
    "DownloadError",
    "ForbiddenError",
    "InsufficientCreditsError",
    "LinkExpiredError",
    "MeshyError",
    "NetworkError",
    "NotFoundError",
    "NotHumanoidError",
    "ProxyAuthenticationError",
    "ProxyError",
    "QueueFullError",
    "RateLimitError",
    "ReportableError",
    "RequestTimeoutError",
    "ServerError",
    "StreamError",
    "StreamNotFoundError",
    "SubmissionUncertainError",
    "UnexpectedPageError",
    "ValidationError",
    "error_for_status",
    "user_message_of",
]


class ReportableError(Exception):
    """An error meant for the user: ``user_message`` says what is wrong and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self._message = message

    @property
    def user_message(self) -> str:
        """Text to show in the UI."""
        return self._message

    def __str__(self) -> str:
        return self._message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._message!r})"


def user_message_of(exc: BaseException) -> str:
    """What to tell the user about any exception: its user message, else its text, else its type."""
    return getattr(exc, "user_message", "") or str(exc) or type(exc).__name__


class MeshyError(ReportableError):
    """Base of every error raised by ``meshy_blender.meshy``."""


class ValidationError(MeshyError, ValueError):
    """An option or argument was rejected before any network call."""

    def __init__(self, field: str, rule: str):
        self.field = field
        self.rule = rule
        super().__init__(f"Invalid {field}: {rule}")


# -- HTTP answers -------------------------------------------------------------------------------


class ApiError(MeshyError):
    """The API answered with an HTTP error status."""

    default_message = "Meshy answered with an error"

    def __init__(self, status: int, message: str | None = None, body: Any = None):
        self.status = status
        self.status_code = status
        self.body = body
        self.server_message = message or ""
        super().__init__(self._compose(message))

    def _compose(self, server_message: str | None) -> str:
        text = f"{self.default_message} (HTTP {self.status})"
        if server_message:
            text += f": {server_message}"
        return text


class BadRequestError(ApiError):
    """400: the server rejected the request; its message says why."""

    def _compose(self, server_message: str | None) -> str:
        return f"Meshy rejected the request: {server_message or 'bad request (HTTP 400)'}"


class AuthenticationError(ApiError):
    """401: the API key is missing, wrong or revoked."""

    def _compose(self, server_message: str | None) -> str:
        return (
            "Meshy did not accept the API key: check the API key in "
            "Preferences > Add-ons > Meshy."
        )


class InsufficientCreditsError(ApiError):
    """402: not enough credits for the task."""

    def __init__(self, status: int = 402, message: str | None = None, body: Any = None,
                 balance: int | None = None):
        self.balance = balance
        super().__init__(status, message, body)

    def _compose(self, server_message: str | None) -> str:
        text = "Not enough Meshy credits for this task"
        if self.balance is not None:
            text += f" (balance: {self.balance} credits)"
        return text + ". Top up your credits on meshy.ai, then try again."


class ForbiddenError(ApiError):
    """403: the key is valid but may not do this (e.g. the plan has no API access)."""

    def _compose(self, server_message: str | None) -> str:
        text = "Meshy refused the request (HTTP 403)"
        if server_message:
            text += f": {server_message}"
        return text + ". API access needs a Meshy Pro plan or higher."


class NotFoundError(ApiError):
    """404: no such task, or it expired or was deleted."""

    def _compose(self, server_message: str | None) -> str:
        return "Meshy task not found: it may have expired or been deleted."


class NotHumanoidError(ApiError):
    """422 from a rigging create: Meshy's pose estimation found no humanoid in the model."""

    def _compose(self, server_message: str | None) -> str:
        text = "Meshy could not rig this model: it is not a valid humanoid (pose estimation failed, HTTP 422)"
        if server_message:
            text += f": {server_message}"
        return text + ". Rigging takes standing biped characters with clear arms and legs, facing +Z."


class RateLimitError(ApiError):
    """429 RateLimitExceeded: too many requests; retried by the client with backoff."""

    def __init__(self, status: int = 429, message: str | None = None, body: Any = None,
                 retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(status, message, body)

    def _compose(self, server_message: str | None) -> str:
        text = "Too many requests to Meshy"
        if self.retry_after is not None:
            text += f"; retry after {self.retry_after:g} s"
        return text + "."


class QueueFullError(ApiError):
    """429 NoMoreConcurrentTasks: the account's task queue is full.

    Not a failure: the caller should wait for running tasks to finish and submit later.
    The client never retries it itself.
    """

    def __init__(self, status: int = 429, message: str | None = None, body: Any = None,
                 retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(status, message, body)

    def _compose(self, server_message: str | None) -> str:
        return "Your Meshy task queue is full: wait for running tasks to finish and submit later."


class ServerError(ApiError):
    """5xx: Meshy had a problem; retried by the client for safe requests."""

    def _compose(self, server_message: str | None) -> str:
        return f"Meshy server error (HTTP {self.status}); try again later."


def error_for_status(status: int, message: str | None = None, body: Any = None, *,
                     retry_after: float | None = None, balance: int | None = None) -> ApiError:
    """Build the right ``ApiError`` subclass for an HTTP error answer."""
    if status == 400:
        return BadRequestError(status, message, body)
    if status == 401:
        return AuthenticationError(status, message, body)
    if status == 402:
        return InsufficientCreditsError(status, message, body, balance=balance)
    if status == 403:
        return ForbiddenError(status, message, body)
    if status == 404:
        return NotFoundError(status, message, body)
    if status == 429:
        code = body.get("code") if isinstance(body, dict) else None
        if "NoMoreConcurrentTasks" in f"{code or ''} {message or ''}":
            return QueueFullError(status, message, body, retry_after=retry_after)
        return RateLimitError(status, message, body, retry_after=retry_after)
    if status >= 500:
        return ServerError(status, message, body)
    return ApiError(status, message, body)


# -- transport ------------------------------------------------------------------------------------


class NetworkError(MeshyError):
    """The connection failed: refused, reset, DNS, TLS, or dropped.

    ``request_sent`` says whether the whole request had been written when it failed, i.e.
    whether the server may have received (and acted on) it.
    """

    def __init__(self, message: str, *, request_sent: bool = False, retryable: bool = True):
        self.request_sent = request_sent
        self.retryable = retryable
        super().__init__(message)


class RequestTimeoutError(NetworkError):
    """Connecting or waiting for the answer took longer than the timeout."""


class SubmissionUncertainError(NetworkError):
    """A create request may have reached Meshy but no answer came back.

    Do not resubmit: reconcile against the task list (``list_tasks``) first, or the task
    may be created (and paid for) twice.
    """

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or "The task may have been submitted but Meshy's answer was lost; "
            "check the task list before submitting again.",
            request_sent=True,
            retryable=False,
        )


class ProxyError(NetworkError):
    """The proxy could not be reached or would not open a connection; nothing reached Meshy."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message, request_sent=False, retryable=retryable)


class ProxyAuthenticationError(ProxyError):
    """407: the proxy wants (other) credentials; nothing reached Meshy."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class CertificateError(NetworkError):
    """The server's TLS certificate is not trusted; nothing was sent."""

    def __init__(self, message: str):
        super().__init__(message, request_sent=False, retryable=False)


class CABundleError(NetworkError):
    """The custom CA bundle (preference or environment variable) is missing or unreadable."""

    def __init__(self, message: str):
        super().__init__(message, request_sent=False, retryable=False)


class UnexpectedPageError(NetworkError):
    """A web page (proxy, captive portal, firewall) answered where Meshy's JSON was expected."""

    def __init__(self, host: str, status: int, *, request_sent: bool = True):
        self.status = status
        super().__init__(
            f"{host} answered with a web page instead of Meshy's answer (HTTP {status}): a proxy, firewall "
            "or Wi-Fi login page (captive portal) is in the way, or the API URL is not Meshy's. Log in to the "
            "network in a web browser, or check the Proxy and API URL preferences (Preferences > Add-ons > "
            "Meshy).",
            request_sent=request_sent, retryable=False)


class StreamError(MeshyError):
    """The progress stream sent ``event: error`` after HTTP 200."""

    def __init__(self, status_code: int | None, message: str | None = None):
        self.status_code = status_code
        self.status = status_code
        self.server_message = message or ""
        text = "Meshy progress stream error"
        if status_code:
            text += f" ({status_code})"
        if message:
            text += f": {message}"
        MeshyError.__init__(self, text)  # not super(): StreamNotFoundError also derives ApiError

    @classmethod
    def from_event(cls, status_code: int | None, message: str | None) -> StreamError:
        """A 404 becomes ``StreamNotFoundError`` so ``except NotFoundError`` catches it too."""
        if status_code == 404:
            return StreamNotFoundError(status_code, message)
        return cls(status_code, message)


class StreamNotFoundError(StreamError, NotFoundError):  # type: ignore[misc]  # status is 404 here
    """``event: error`` with status 404: the task does not exist (or expired)."""

    def __init__(self, status_code: int | None = 404, message: str | None = None):
        StreamError.__init__(self, status_code, message)
        self.body = None
        self._message = "Meshy task not found: it may have expired or been deleted."


# -- downloads & control ------------------------------------------------------------------------


class DownloadError(MeshyError):
    """A model or texture could not be downloaded."""


class LinkExpiredError(DownloadError):
    """403/404 on an asset URL: signed download links expire."""

    def __init__(self, status: int | None = None):
        self.status = status
        super().__init__(
            "The download link has expired or is no longer valid: download links expire after "
            "3 days; retrieve the task again for fresh links, or re-run the task."
        )


class CancelledError(MeshyError):
    """The caller's cancel Event was set."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)
