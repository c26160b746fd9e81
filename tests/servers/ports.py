"""A port where connections are refused, reserved for the whole test."""

from __future__ import annotations

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
