"""Incremental decoders: bytes to text, and text to Server-Sent Events."""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "TextDecoder"]


class TextDecoder:
    """Decodes a byte stream chunk by chunk without breaking characters.

    A multi-byte character split across chunks is held back until its last
    byte arrives; invalid bytes become U+FFFD instead of raising.
    """

    def __init__(self, charset: str | None = None) -> None:
        self._charset = charset or "utf-8"
        self._decoder = _decoder_factory(self._charset)(errors="replace")

    def decode(self, chunk: bytes) -> str:
        """Text completed by ``chunk`` (may be empty)."""
        try:
            return self._decoder.decode(chunk)
        except UnicodeError:
            return self._without_bom(chunk, final=False)

    def flush(self) -> str:
        """Whatever is held back at the end of the stream (U+FFFD for a cut character)."""
        try:
            return self._decoder.decode(b"", final=True)
        except UnicodeError:
            return self._without_bom(b"", final=True)

    def _without_bom(self, chunk: bytes, *, final: bool) -> str:
        # "utf-16"/"utf-32" raise on a missing byte order mark even with
        # errors="replace"; RFC 2781 says to read such text as big-endian.
        pending = self._decoder.getstate()[0]
        name = codecs.lookup(self._charset).name
        fallback = {"utf-16": "utf-16-be", "utf-32": "utf-32-be"}.get(name, "utf-8")
        self._decoder = codecs.getincrementaldecoder(fallback)(errors="replace")
        return self._decoder.decode(pending + chunk, final=final)


@functools.lru_cache(maxsize=32)
def _decoder_factory(charset: str) -> codecs._IncrementalDecoder:
    try:
        # bytes.decode refuses unknown labels and codecs that do not produce
        # text (base64, zlib, ...), which would otherwise yield bytes or fail.
        b"x".decode(charset, "replace")
    except LookupError:
        # The server's mistake; UTF-8 is the protocol's de-facto encoding.
        charset = "utf-8"
    return codecs.getincrementaldecoder(charset)


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """An incremental parser of the WHATWG ``text/event-stream`` format.

    Feed it decoded text in chunks of any size; it returns the events those
    chunks complete. It handles LF, CR and CRLF line ends (even a CRLF split
    across chunks), comments, ``event:``/``id:``/``retry:`` fields and
    multi-line ``data``.
    """

    def __init__(self) -> None:
        # The start of a line whose end has not arrived yet, in pieces, so a
        # long line fed in many small chunks costs linear time, not quadratic.
        self._partial: list[str] = []
        self._pending_cr = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, text: str) -> list[ServerSentEvent]:
        """Events completed by ``text``."""
        if not text:
            return []  # (an empty chunk must not forget a pending CR)
        if self._pending_cr:
            self._pending_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):  # the standard ignores one leading BOM
                text = text[1:]
        if "\r" in text:
            # The "\n" of a CRLF split across chunks may still be on its way.
            self._pending_cr = text.endswith("\r")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._partial.append(text)
            return []
        lines = text.split("\n")
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
        tail = lines.pop()
        self._partial = [tail] if tail else []
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            # The common lines first, without a method call each.
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif not line:
                if data:
                    event = self._event or "message"
                    events.append(ServerSentEvent("\n".join(data), event, self._id, self._retry))
                    data = self._data = []
                self._event = ""
            else:
                self._line(line)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """The event left unterminated at the end of the stream, if any.

        The standard drops it; servers that forget the final blank line are
        common enough that a client is better off keeping it.
        """
        if self._partial:
            self._line("".join(self._partial))
            self._partial = []
        last = self._dispatch()
        return [last] if last is not None else []

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._id,
            retry=self._retry,
        )
        self._data = []
        self._event = ""
        return event
