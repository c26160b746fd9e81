from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from acytoo import aclose_sessions
from acytoo.server import Backend, RunningServer, ServerConfig, serve

StartServer = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start servers on free loopback ports: ``await start_server(backend, **config)``."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(backend: Backend | None = None, **config: Any) -> RunningServer:
            config.setdefault("port", 0)
            config.setdefault("grace_period", 1.0)
            return await stack.enter_async_context(serve(ServerConfig(**config), backend))

        yield start
        # Pooled client sessions of this loop (the Acytoo provider's) close with it.
        await aclose_sessions()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
