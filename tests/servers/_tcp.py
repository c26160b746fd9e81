"""What the servers written on asyncio streams share: listening on 127.0.0.1,
numbering and closing connections, and reading one HTTP request.

They are written on streams rather than aiohttp so that every byte and every
close is exact; a subclass says what to do with each connection in
:meth:`LoopbackTCPServer._converse`.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["LoopbackTCPServer", "read_request"]

_MAX_HEAD = 64 * 1024


class LoopbackTCPServer:
    """A TCP server on a free port of 127.0.0.1; connections are numbered from 1."""

    def __init__(self) -> None:
        self.port = 0
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

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        raise NotImplementedError

    def _connection_ended(self) -> None:
        """Called once a connection is closed (either side closed it)."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        self._writers.add(writer)
        try:
            await self._converse(reader, writer, self._connections)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._connection_ended()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One request's head (without its blank line) and ``Content-Length`` body;
    ``None`` at the end of the connection or for a head over 64 KiB."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    if len(head) > _MAX_HEAD:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head[:-4], body
