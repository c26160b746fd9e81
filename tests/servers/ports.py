"""Ports that refuse connections: one reserved for the whole test, and waiting for a server's
port to stop accepting."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but never listens.

    Connecting to it is refused, and unlike a port that was merely free a
    moment ago, no server started during the test can be given it (a server
    on port 0 once got such a port and relayed to itself).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


async def refuses_connections(url: str, attempts: int = 200) -> bool:
    """Whether the port stops accepting, polled a bounded number of times."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    for _ in range(attempts):
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return True
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.05)
    return False
