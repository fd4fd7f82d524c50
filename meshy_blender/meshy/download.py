"""Streamed, resumable, atomic downloads of Meshy assets (models, textures, thumbnails).

* The body goes to ``<dest>.part`` chunk by chunk (never whole in memory), then flush + fsync +
  ``os.replace``: the destination either does not exist or is complete.
* After a drop the download resumes with ``Range: bytes=N-`` (also from a ``.part`` an earlier
  process left).  A server that answers 200 to a Range request is restarted from 0.
* Asset URLs are signed: no Authorization header is ever sent to them.  403/404 mean the
  link expired (``LinkExpiredError``).  Local file names are the caller's, never the URL's.
* Asset hosts are reached like the API: through the client's proxy, trusting its CAs
  (``network=client.network``); a web page where a file was expected is a captive portal.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .durable import fsync_dir
from .errors import (
    CancelledError,
    DownloadError,
    LinkExpiredError,
    NetworkError,
    UnexpectedPageError,
    ValidationError,
)
from .network import NetworkConfig
from .transport import StreamResponse, Transport

__all__ = ["download", "safe_filename"]

ProgressFn = Callable[[int, "int | None"], None]

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", re.IGNORECASE)
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) from ``bytes start-end/total``; None for parts that are absent or ``*``."""
    match = _CONTENT_RANGE.match((value or "").strip())
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def _int_header(resp: StreamResponse, name: str) -> int | None:
    value = resp.header(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def download(url: str, dest_path: str | os.PathLike[str], *, progress: ProgressFn | None = None,
             cancel: threading.Event | None = None, connect_timeout: float = 10, read_timeout: float = 60,
             max_resumes: int = 5, chunk_size: int = 1024 * 1024, network: NetworkConfig | None = None) -> Path:
    """Download ``url`` to ``dest_path`` and return the final Path.

    ``progress(done_bytes, total_bytes_or_None)`` is called as data arrives.  Setting ``cancel``
    raises ``CancelledError`` and keeps the ``.part`` for a later resume.  Raises
    ``LinkExpiredError`` for 403/404, ``DownloadError`` when the server keeps failing.
    ``network`` (proxy, CAs) defaults to the environment's, like ``MeshyClient``'s.
    """
    if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValidationError("url", "downloads must use an http(s) URL")
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    transport = Transport(connect_timeout=connect_timeout, read_timeout=read_timeout, network=network)
    resumes = 0
    redirects = 0

    def retry_or_fail(reason: str, cause: BaseException | None = None) -> None:
        nonlocal resumes
        resumes += 1
        if resumes > max_resumes:
            raise DownloadError(f"Download of {dest.name} failed after {max_resumes} retries: {reason} "
                                "The partial file is kept; try again later.") from cause
        delay = 0.0 if resumes == 1 else min(0.25 * 2 ** (resumes - 2), 4.0)
        if cancel is not None:
            if cancel.wait(delay):
                raise CancelledError()
        elif delay:
            threading.Event().wait(delay)

    while True:
        if cancel is not None and cancel.is_set():
            raise CancelledError()
        offset = _size(part)
        headers = {"Accept": "*/*"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = transport.open("GET", url, headers=headers, cancel=cancel)
        except NetworkError as exc:
            if not exc.retryable:
                raise DownloadError(f"Download of {dest.name} failed: {exc}") from exc
            retry_or_fail(str(exc), exc)
            continue
        with resp:
            status = resp.status
            if status in (403, 404, 410):
                raise LinkExpiredError(status)
            if status in _REDIRECTS and resp.header("Location"):
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise DownloadError(f"Download of {dest.name} failed: too many redirects.")
                url = urljoin(url, resp.header("Location"))
                if urlsplit(url).scheme.lower() not in ("http", "https"):
                    raise DownloadError(f"Download of {dest.name} failed: redirected to a non-http URL.")
                continue
            if status == 416 and offset:
                _, total = _parse_content_range(resp.header("Content-Range"))
                if total == offset:  # the .part is already complete
                    if progress is not None:
                        progress(offset, total)
                    break
                part.unlink(missing_ok=True)
                retry_or_fail("the partial file did not match the server's file.")
                continue
            if status == 429 or status >= 500:
                retry_or_fail(f"the server answered HTTP {status}.")
                continue
            if status not in (200, 206):
                raise DownloadError(f"Download of {dest.name} failed: the server answered HTTP {status}.")
            if "html" in (resp.header("Content-Type") or "").lower():  # assets are never web pages
                raise UnexpectedPageError(urlsplit(url).hostname or "", status)

            length = _int_header(resp, "Content-Length")
            if status == 206:
                start, total = _parse_content_range(resp.header("Content-Range"))
                if start != offset:  # not the range we asked for: start over
                    part.unlink(missing_ok=True)
                    retry_or_fail("the server sent a different byte range.")
                    continue
                mode = "ab"
            else:  # 200: the whole file (a Range request may be ignored)
                offset, total, mode = 0, length, "wb"
            end = total if total is not None else (offset + length if length is not None else None)

            done = offset
            if progress is not None:
                progress(done, total)
            buffer = memoryview(bytearray(chunk_size))  # one buffer, reused: memory stays flat
            try:
                with open(part, mode) as fh:
                    while True:
                        n = resp.readinto(buffer)  # whatever has arrived, so .part grows as data comes
                        if not n:
                            break
                        fh.write(buffer[:n])
                        done += n
                        if end is not None and done > end:
                            break
                        if progress is not None:
                            progress(done, total)
                    fh.flush()
                    os.fsync(fh.fileno())
            except NetworkError as exc:
                retry_or_fail(str(exc), exc)
                continue
            if end is not None and done > end:
                part.unlink(missing_ok=True)
                raise DownloadError(f"Download of {dest.name} failed: the server sent more data than "
                                    "it announced.")
            if end is not None and done < end:
                retry_or_fail(f"the connection closed after {done} of {end} bytes.")
                continue
            break
    os.replace(part, dest)
    fsync_dir(dest.parent)
    return dest


_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


def safe_filename(name: str, default: str = "file", max_length: int = 120) -> str:
    """A file name that is safe on Windows, macOS and Linux (no separators, no reserved names)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = _UNSAFE_CHARS.sub("_", name).strip(" .")
    if not name or set(name) <= {"_", "."}:
        name = default
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if stem.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    if len(name) > max_length:
        keep = f".{suffix}" if suffix and len(suffix) < 16 else ""
        name = name[: max_length - len(keep)].rstrip(" .") + keep
    return name
