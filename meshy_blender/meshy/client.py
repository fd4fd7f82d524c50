"""MeshyClient: the Image to 3D / Multi-Image to 3D endpoints (and the follow-ups': followups.py), with retries
and typed errors.

Retry rules (see ``RetryPolicy``):
* reads (retrieve, list, delete, balance, opening a stream) are retried on network errors, 5xx and
  429 RateLimitExceeded, with exponential backoff + jitter, honouring ``Retry-After``;
* a create is retried only when it certainly did not reach the server (connection refused or
  failed before the request was fully sent) or the server answered 429 RateLimitExceeded / 5xx.
  A create that may have arrived (reset or timeout after sending) raises
  ``SubmissionUncertainError``: the caller reconciles against ``list_tasks``, never resubmits;
* 429 NoMoreConcurrentTasks (``QueueFullError``) is never retried here: the caller waits.
Every wait is ``cancel.wait(t)``, so setting the cancel Event ends it at once (``CancelledError``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from . import ALL_KINDS, FOLLOWUP_KINDS, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, RIGGING
from .errors import (
    ApiError,
    InsufficientCreditsError,
    MeshyError,
    NetworkError,
    NotFoundError,
    NotHumanoidError,
    RateLimitError,
    ServerError,
    StreamError,
    SubmissionUncertainError,
    UnexpectedPageError,
    ValidationError,
    error_for_status,
)
from .followup_options import FollowupOptions, followup_options_class, followup_options_from_dict
from .followups import FollowupEndpoints
from .network import NetworkConfig
from .options import (
    ImageTo3DOptions,
    MultiImageTo3DOptions,
    TaskOptions,
    options_class,
    options_from_dict,
)
from .retry import RetryPolicy, check_cancel, parse_retry_after, wait
from .sse import SSEParser
from .task import Task
from .transport import Headers, Response, StreamResponse, Transport

__all__ = ["DEFAULT_BASE_URL", "MeshyClient", "RetryPolicy"]

DEFAULT_BASE_URL = "https://api.meshy.ai"
API_PREFIX = "/openapi/v1"
SORT_VALUES = ("+created_at", "-created_at")
MAX_PAGE_SIZE = 50
DEFAULT_RETRY = RetryPolicy()  # frozen: one shared default


class _Secret:
    """Holds the API key; its repr never shows it (tracebacks with locals stay clean)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _MaskedHeader(str):
    """The Authorization header value: a real str for http.client, masked in any repr (tracebacks)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'Bearer ***'"


def _is_page(headers: Headers) -> bool:
    """An HTML answer: Meshy's API never sends one, a proxy or captive portal does."""
    return "html" in (headers.get("Content-Type") or "").lower()


def _check_key(api_key: Any) -> str:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ValidationError("api_key", "is empty: paste your Meshy API key in Preferences > Add-ons > Meshy")
    key = api_key.strip()
    if not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise ValidationError("api_key", "contains spaces or characters an API key cannot have")
    return key


def _check_kind(kind: Any) -> str:
    if kind not in ALL_KINDS:
        raise ValidationError("kind", f"must be one of {', '.join(ALL_KINDS)}")
    return kind


def _check_task_id(task_id: Any) -> str:
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValidationError("task_id", "must be a non-empty task id")
    return task_id.strip()


class MeshyClient(FollowupEndpoints):
    """Talks to Meshy's REST API.  Thread-safe; one instance can serve all worker threads."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, connect_timeout: float = 10.0,
                 read_timeout: float = 60.0, retry: RetryPolicy = DEFAULT_RETRY,
                 network: NetworkConfig | None = None):
        self._key = _Secret(_check_key(api_key))
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("base_url", "must be an http(s) URL such as https://api.meshy.ai")
        self.base_url = base_url.rstrip("/")
        root = self.base_url
        if root.endswith("/openapi"):
            root += "/v1"
        elif not root.endswith(API_PREFIX):
            root += API_PREFIX
        self._root = root
        self.retry = retry
        self._transport = Transport(connect_timeout=connect_timeout, read_timeout=read_timeout, network=network)
        self.network = self._transport.network  # proxy and trust; downloads use the same (download(network=))

    def __repr__(self) -> str:
        return f"MeshyClient(base_url={self.base_url!r}, api_key='***')"

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> MeshyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints ----------------------------------------------------------------------------

    def create(self, kind: str, opts: TaskOptions | FollowupOptions | Mapping[str, Any], *,
               cancel: threading.Event | None = None) -> str:
        """Submit a task of any kind; returns its id.  ``opts`` may be the options dataclass or a mapping."""
        kind = _check_kind(kind)
        followup = kind in FOLLOWUP_KINDS
        if isinstance(opts, Mapping):
            opts = followup_options_from_dict(kind, opts) if followup else options_from_dict(kind, opts)
        if not isinstance(opts, (TaskOptions, FollowupOptions)) or opts.kind != kind:
            expected = followup_options_class(kind) if followup else options_class(kind)
            raise ValidationError("options", f"must be {expected.__name__} for {kind}")
        body = json.dumps(opts.to_payload(), separators=(",", ":")).encode("utf-8")
        try:
            resp = self._send("POST", self._url(kind), body=body, create=True, cancel=cancel)
        except InsufficientCreditsError as exc:
            raise self._with_balance(exc) from None
        except ApiError as exc:
            if exc.status == 422 and kind == RIGGING:
                raise NotHumanoidError(exc.status, exc.server_message, exc.body) from None
            raise
        if _is_page(resp.headers):  # something in between answered; whether Meshy got it is unknown
            raise SubmissionUncertainError(
                f"{UnexpectedPageError(urlsplit(self._root).hostname or '', resp.status)} The task may "
                "have been submitted; the task list is checked before anything is sent again.")
        try:
            data = resp.json()
        except ValueError:
            data = None
        task_id = data.get("result") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise SubmissionUncertainError(
                "Meshy accepted the request but its answer had no task id; check the task list "
                "before submitting again.")
        return task_id

    def create_image_to_3d(self, opts: ImageTo3DOptions | Mapping[str, Any], *,
                           cancel: threading.Event | None = None) -> str:
        """POST /openapi/v1/image-to-3d."""
        return self.create(IMAGE_TO_3D, opts, cancel=cancel)

    def create_multi_image_to_3d(self, opts: MultiImageTo3DOptions | Mapping[str, Any], *,
                                 cancel: threading.Event | None = None) -> str:
        """POST /openapi/v1/multi-image-to-3d."""
        return self.create(MULTI_IMAGE_TO_3D, opts, cancel=cancel)

    def retrieve(self, kind: str, task_id: str, *, cancel: threading.Event | None = None) -> Task:
        """GET one task."""
        url = self._url(_check_kind(kind), _check_task_id(task_id))
        data = self._json(self._send("GET", url, cancel=cancel))
        if not isinstance(data, dict):
            raise ApiError(200, "the task answer was not a JSON object")
        return Task.from_json(data)

    def list_tasks(self, kind: str, page_num: int = 1, page_size: int = 10, sort_by: str = "-created_at",
                   *, cancel: threading.Event | None = None) -> list[Task]:
        """GET one page of the account's tasks of this kind (newest first by default)."""
        kind = _check_kind(kind)
        if isinstance(page_num, bool) or not isinstance(page_num, int) or page_num < 1:
            raise ValidationError("page_num", "must be a whole number >= 1")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        if sort_by not in SORT_VALUES:
            raise ValidationError("sort_by", "must be +created_at or -created_at")
        query = urlencode({"page_num": page_num, "page_size": page_size, "sort_by": sort_by})
        data = self._json(self._send("GET", f"{self._url(kind)}?{query}", cancel=cancel))
        if isinstance(data, dict):  # tolerate a wrapped page
            data = data.get("result", data.get("data"))
        if not isinstance(data, list):
            raise ApiError(200, "the task list answer was not a JSON array")
        return [Task.from_json(item) for item in data if isinstance(item, dict)]

    def delete(self, kind: str, task_id: str, *, cancel: threading.Event | None = None) -> None:
        """DELETE a task and its assets (irreversible)."""
        url = self._url(_check_kind(kind), _check_task_id(task_id))
        self._send("DELETE", url, cancel=cancel, missing_ok_after_retry=True)

    def balance(self, *, cancel: threading.Event | None = None) -> int:
        """The account's credit balance."""
        data = self._json(self._send("GET", f"{self._root}/balance", cancel=cancel))
        value = data.get("balance") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(200, "the balance answer had no balance")
        return int(value)

    def stream(self, kind: str, task_id: str, *, cancel: threading.Event | None = None) -> Iterator[Task]:
        """Follow a task over one SSE connection, yielding a merged snapshot per message.

        Ends after the terminal status.  Raises ``StreamError`` on ``event: error``
        (``StreamNotFoundError`` for 404) and ``NetworkError`` if the stream ends early.
        """
        kind, task_id = _check_kind(kind), _check_task_id(task_id)
        return self._stream(kind, task_id, Task.from_json({"id": task_id, "type": kind}), cancel)

    def watch(self, kind: str, task_id: str, *, on_update: Callable[[Task], object] | None = None,
              cancel: threading.Event | None = None,
              poll_interval: float = 5.0, poll_max: float = 20.0,
              stream_failures_before_polling: int = 3) -> Task:
        """Follow a task to its end and return the terminal Task.

        Uses the SSE stream, reconnecting with backoff; after ``stream_failures_before_polling``
        failed streams it polls GET every ``poll_interval`` s, growing x1.5 up to ``poll_max``.
        ``on_update(task)`` is called for every changed snapshot.  Raises ``CancelledError``
        when ``cancel`` is set, ``NotFoundError`` if the task is gone.
        """
        kind, task_id = _check_kind(kind), _check_task_id(task_id)
        last = Task.from_json({"id": task_id, "type": kind})
        notified: list[Task] = []

        def seen(task: Task) -> Task:
            if not notified or task != notified[-1]:
                notified[:] = [task]
                if on_update is not None:
                    on_update(task)
            return task

        failures = 0
        while failures < stream_failures_before_polling:
            check_cancel(cancel)
            try:
                for task in self._stream(kind, task_id, last, cancel):
                    last = seen(task)
                    if task.is_terminal:
                        return task
            except NotFoundError:
                raise
            except (NetworkError, ServerError, RateLimitError, StreamError):
                failures += 1
                if failures < stream_failures_before_polling:
                    wait(self.retry.delay(failures), cancel)
        interval = poll_interval
        while True:
            task = seen(self.retrieve(kind, task_id, cancel=cancel))
            if task.is_terminal:
                return task
            wait(interval, cancel)
            interval = min(poll_max, interval * 1.5)

    # -- internals ----------------------------------------------------------------------------

    def _url(self, kind: str, *parts: str) -> str:
        return "/".join([self._root, kind, *(quote(p, safe="") for p in parts)])

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": _MaskedHeader(f"Bearer {self._key.reveal()}"), "Accept": "application/json"}
        if extra:
            headers.update(extra)
        return headers

    def _redact(self, text: str) -> str:
        key = self._key.reveal()
        return text.replace(key, "***") if key in text else text

    def _page_error(self, status: int) -> UnexpectedPageError:
        return UnexpectedPageError(urlsplit(self._root).hostname or "", status)

    def _json(self, resp: Response) -> Any:
        if _is_page(resp.headers):
            raise self._page_error(resp.status)
        try:
            return resp.json()
        except ValueError:
            raise ApiError(resp.status, "the answer was not valid JSON") from None

    def _api_error(self, status: int, headers: Headers, raw: bytes) -> ApiError | UnexpectedPageError:
        if _is_page(headers) and status < 500 and status != 429:  # Meshy answers JSON; 5xx pages are retried
            return self._page_error(status)
        text = self._redact(raw.decode("utf-8", "replace"))
        try:
            body: Any = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        message = None
        balance = None
        if isinstance(body, dict):
            value = body.get("message") or body.get("error") or body.get("detail")
            message = value if isinstance(value, str) else (json.dumps(value) if value else None)
            if isinstance(body.get("balance"), int) and not isinstance(body.get("balance"), bool):
                balance = body["balance"]
        elif isinstance(body, str) and "html" not in (headers.get("Content-Type") or "").lower():
            message = body.strip()[:300] or None
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return error_for_status(status, message, body, retry_after=retry_after, balance=balance)

    def _with_balance(self, exc: InsufficientCreditsError) -> InsufficientCreditsError:
        """Add the balance to a 402 so the user sees how short they are."""
        if exc.balance is not None:
            return exc
        try:
            balance = self.balance()
        except MeshyError:
            return exc
        return InsufficientCreditsError(exc.status, exc.server_message, exc.body, balance=balance)

    def _send(self, method: str, url: str, *, body: bytes | None = None, create: bool = False,
              cancel: threading.Event | None = None, missing_ok_after_retry: bool = False) -> Response:
        """One API call with the retry rules above."""
        extra = {"Content-Type": "application/json"} if body is not None else None
        headers = self._headers(extra)
        maybe_done = False  # an earlier attempt may have been carried out (for idempotent deletes)
        attempt = 0
        while True:
            attempt += 1
            check_cancel(cancel)
            try:
                resp = self._transport.request(method, url, headers=headers, body=body, reuse=not create)
            except NetworkError as exc:
                if create and exc.request_sent:
                    raise SubmissionUncertainError() from exc
                if not exc.retryable or attempt >= self.retry.max_attempts:
                    raise
                maybe_done = maybe_done or exc.request_sent
                wait(self.retry.delay(attempt), cancel)
                continue
            if 200 <= resp.status < 300:
                return resp
            error = self._api_error(resp.status, resp.headers, resp.body)
            if isinstance(error, NotFoundError) and maybe_done and missing_ok_after_retry:
                return resp
            if isinstance(error, (RateLimitError, ServerError)) and attempt < self.retry.max_attempts:
                maybe_done = maybe_done or isinstance(error, ServerError)
                wait(self.retry.delay(attempt, parse_retry_after(resp.header("Retry-After"))), cancel)
                continue
            raise error

    def _open_stream(self, url: str, cancel: threading.Event | None) -> StreamResponse:
        headers = self._headers({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
        attempt = 0
        while True:
            attempt += 1
            check_cancel(cancel)
            try:
                resp = self._transport.open("GET", url, headers=headers, cancel=cancel)
            except NetworkError as exc:
                if not exc.retryable or attempt >= self.retry.max_attempts:
                    raise
                wait(self.retry.delay(attempt), cancel)
                continue
            if 200 <= resp.status < 300 and not _is_page(resp.headers):
                return resp
            with resp:
                raw = resp.read_body(64 * 1024)
            if 200 <= resp.status < 300:
                raise self._page_error(resp.status)
            error = self._api_error(resp.status, resp.headers, raw)
            if isinstance(error, (RateLimitError, ServerError)) and attempt < self.retry.max_attempts:
                wait(self.retry.delay(attempt, parse_retry_after(resp.header("Retry-After"))), cancel)
                continue
            raise error

    def _stream(self, kind: str, task_id: str, base: Task,
                cancel: threading.Event | None) -> Iterator[Task]:
        resp = self._open_stream(self._url(kind, task_id, "stream"), cancel)
        with resp:
            parser = SSEParser()
            task = base
            while True:
                chunk = resp.read()
                events = parser.feed(chunk) if chunk else parser.close(flush_incomplete=True)
                for event in events:
                    check_cancel(cancel)
                    if event.event == "error":
                        raise self._stream_error(event.data)
                    if event.event not in ("message", ""):
                        continue
                    try:
                        data = json.loads(event.data)
                    except ValueError:
                        continue
                    if not isinstance(data, dict):
                        continue
                    task = task.merge(data)
                    yield task
                    if task.is_terminal:
                        return
                if not chunk:
                    raise NetworkError("The progress stream ended before the task finished.",
                                       request_sent=True)

    def _stream_error(self, data: str) -> StreamError:
        text = self._redact(data)
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return StreamError(None, text.strip()[:300] or None)
        code = body.get("status_code", body.get("status"))
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        message = body.get("message")
        return StreamError.from_event(code, message if isinstance(message, str) else None)
