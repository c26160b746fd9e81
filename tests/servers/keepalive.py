"""A real HTTP/1.1 server on 127.0.0.1 that drops kept-alive connections.

A server that closes idle keep-alive connections (Node does after ~5 s)
races the client's next request: the request goes out on a connection the
server has just closed, and fails before any response byte. This server
makes that race certain: it answers the first request of every connection
and keeps the connection open, then closes the connection, unanswered, when
a second request arrives on it. With ``drop_every_request`` it closes every
connection on its first request instead (a failure on a fresh connection).

It is written on asyncio streams (``_tcp.py``) rather than aiohttp so that
the moment of the close is exact; it records ``(connection number, request number)`` for
every request it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ._tcp import LoopbackTCPServer, read_request

__all__ = ["IdleClosingServer", "idle_closing_server"]

_ANSWER = b"Hello"


class IdleClosingServer(LoopbackTCPServer):
    """Answers once per connection, then drops the connection on its next request."""

    def __init__(self) -> None:
        super().__init__()
        self.drop_every_request = False
        self.requests: list[tuple[int, int]] = []

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        for request in range(1, 100):  # bounded: a test sends a handful
            if await read_request(reader) is None:
                return
            self.requests.append((number, request))
            if request > 1 or self.drop_every_request:
                return  # closed, unanswered, as an idle timeout would have
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(_ANSWER), _ANSWER)
            )
            await writer.drain()


@pytest.fixture
async def idle_closing_server() -> AsyncIterator[IdleClosingServer]:
    """The server, in the test's own event loop."""
    server = IdleClosingServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
