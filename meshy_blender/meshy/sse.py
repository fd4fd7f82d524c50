"""Server-Sent Events reader (the WHATWG "event stream" format), incremental and stdlib-only.

Meshy's ``/stream`` endpoints send ``event: message`` / ``event: error`` frames.  The parser takes
bytes as they arrive from a socket, so a line, a CRLF pair or a multi-byte UTF-8 character may be
split across chunks.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "iter_sse"]


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event.  ``event`` defaults to "message"; ``retry`` is in milliseconds."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEParser:
    """Feed bytes (or text); get complete events back.  Keeps the last event id across events."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""  # decoded text not yet split into lines
        self._after_cr = False  # the previous chunk ended with CR: a leading LF belongs to it
        self._first = True  # strip a BOM at the very start
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self.last_event_id: str | None = None
        self.retry: int | None = None  # last reconnection time the server asked for (ms)

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        """Parse a chunk of the stream; return the events it completes."""
        text = chunk if isinstance(chunk, str) else self._decoder.decode(chunk)
        return self._feed_text(text)

    def close(self, flush_incomplete: bool = False) -> list[SSEEvent]:
        """End of stream.  Per spec an event without its closing blank line is dropped, unless
        ``flush_incomplete`` (useful for servers that close right after the last ``data:``)."""
        events = self._feed_text(self._decoder.decode(b"", final=True))
        if self._buffer:
            events += self._line(self._buffer)
            self._buffer = ""
        if flush_incomplete:
            events += self._dispatch()
        return events

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if self._first and text:
            self._first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._after_cr and text:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        buf = self._buffer + text
        events: list[SSEEvent] = []
        start = 0
        n = len(buf)
        while True:
            cr = buf.find("\r", start)
            lf = buf.find("\n", start)
            if cr < 0 and lf < 0:
                break
            end = lf if cr < 0 else cr if lf < 0 else min(cr, lf)
            events += self._line(buf[start:end])
            if buf[end] == "\r":
                if end + 1 < n:
                    start = end + 2 if buf[end + 1] == "\n" else end + 1
                else:
                    start = end + 1
                    self._after_cr = True
            else:
                start = end + 1
        self._buffer = buf[start:]
        return events

    def _line(self, line: str) -> list[SSEEvent]:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return []  # comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self.retry = int(value)
        return []

    def _dispatch(self) -> list[SSEEvent]:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return []
        return [SSEEvent(event or "message", "\n".join(data), self.last_event_id, retry)]


def iter_sse(source: Iterable[bytes | str], *, flush_incomplete: bool = False) -> Iterator[SSEEvent]:
    """Yield events from an iterable of byte chunks (any split) or of text lines.

    ``bytes`` items are raw stream chunks.  ``str`` items are lines: a trailing CR/LF is
    optional, and a string holding several lines is split into them.
    """
    parser = SSEParser()
    for item in source:
        if isinstance(item, str):  # one complete line: normalise its terminator to LF
            for eol in ("\r\n", "\n", "\r"):
                if item.endswith(eol):
                    item = item[: -len(eol)]
                    break
            item += "\n"
        yield from parser.feed(item)
    yield from parser.close(flush_incomplete=flush_incomplete)
