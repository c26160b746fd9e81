"""A real HTTP/1.1 server on 127.0.0.1 that drops kept-alive connections.

A server that closes idle keep-alive connections (Node does after ~5 s)
races the client's next request: the request goes out on a connection the
server has just closed, and fails before any response byte. This server
makes that race certain: it answers the first request of every connection
and keeps the connection open, then closes the connection, unanswered, when
a second request arrives on it. With ``drop_every_request`` it closes every
connection on its first request instead (a failure on a fresh connection).

It is written on asyncio streams rather than aiohttp so that the moment of
the close is exact; it records ``(connection number, request number)`` for
every request it read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

__all__ = ["IdleClosingServer", "idle_closing_server"]

_MAX_HEAD = 64 * 1024
_ANSWER = b"Hello"


class IdleClosingServer:
    """Answers once per connection, then drops the connection on its next request."""

    def __init__(self) -> None:
        self.port = 0
        self.drop_every_request = False
        self.requests: list[tuple[int, int]] = []
        self._connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """How many connections were accepted."""
        return self._connections

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        number = self._connections
        self._writers.add(writer)
        try:
            for request in range(1, 100):  # bounded: a test sends a handful
                if not await _read_request(reader):
                    return
                self.requests.append((number, request))
                if request > 1 or self.drop_every_request:
                    return  # closed, unanswered, as an idle timeout would have
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(_ANSWER), _ANSWER)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request (head and Content-Length body); False at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    if len(head) > _MAX_HEAD:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return True


@pytest.fixture
async def idle_closing_server() -> AsyncIterator[IdleClosingServer]:
    """The server, in the test's own event loop."""
    server = IdleClosingServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
