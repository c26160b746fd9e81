"""A real TCP server on 127.0.0.1 that answers HTTP requests with scripted raw bytes.

For the lean HTTP/1.1 client's framing rules (chunked bodies split anywhere,
trailers, close-delimited bodies, HTTP/1.0, interim answers, malformed
heads), which an aiohttp server will not produce. Each request is read as a
head plus a ``Content-Length`` body and recorded with the number of the
connection it came on; the answer is the next :class:`Script` queued (or the
default one). Written on asyncio streams so every byte and every close is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from ._tcp import LoopbackTCPServer, read_request

__all__ = ["RawHTTPServer", "RawRequest", "Script", "raw_http_server"]

# Every wait is bounded so that a broken test cannot hang CI.
_MAX_WAIT = 30.0


@dataclass
class Script:
    """One answer: ``pieces`` written one write each; then the connection stays or closes.

    ``hold`` waits (bounded) for :meth:`RawHTTPServer.release` before the last piece.
    """

    pieces: list[bytes]
    close: bool = False
    hold: bool = False


@dataclass
class RawRequest:
    connection: int
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


class RawHTTPServer(LoopbackTCPServer):
    """Answers each request with the next queued :class:`Script` (or ``default``)."""

    def __init__(self) -> None:
        super().__init__()
        self.default = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello"])
        self.requests: list[RawRequest] = []
        self._scripts: list[Script] = []
        self._release = asyncio.Event()
        self.received = asyncio.Event()
        """Set whenever a request has been read."""
        self.closed = asyncio.Event()
        """Set whenever a connection ends (either side closed it)."""

    def queue(self, *scripts: Script) -> None:
        """Answer the next requests with ``scripts``, in order."""
        self._scripts.extend(scripts)

    def release(self) -> None:
        self._release.set()

    async def _client_left_before_release(self, reader: asyncio.StreamReader) -> bool:
        """Wait (bounded) for :meth:`release` (which it then clears); True if the client
        closed the connection first."""
        released = asyncio.ensure_future(self._release.wait())
        left = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait(
                {released, left}, timeout=_MAX_WAIT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (released, left):
                task.cancel()
            await asyncio.gather(released, left, return_exceptions=True)
        if released.done() and not released.cancelled():
            self._release.clear()
            return False
        return True

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        while (request := await read_request(reader)) is not None:
            self.requests.append(RawRequest(number, *request))
            self.received.set()
            script = self._scripts.pop(0) if self._scripts else self.default
            for index, piece in enumerate(script.pieces):
                last = index == len(script.pieces) - 1
                if script.hold and last and await self._client_left_before_release(reader):
                    return
                writer.write(piece)
                await writer.drain()
            if script.close:
                return

    def _connection_ended(self) -> None:
        self.closed.set()


@pytest.fixture
async def raw_http_server() -> AsyncIterator[RawHTTPServer]:
    server = RawHTTPServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
