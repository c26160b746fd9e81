"""What the scriptable test servers share: the aiohttp runner on 127.0.0.1,
the events tests synchronise on, and running a server on a background thread.

A subclass builds its :class:`aiohttp.web.Application` in :meth:`ScriptedServer._make_app`
and sets ``disconnected`` / ``streaming`` from its handlers; everything else
(start, close, release, waiting on a disconnect from any thread) lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

from aiohttp import web

__all__ = [
    "MAX_HOLD_SECONDS",
    "ScriptedServer",
    "ThreadedScripted",
    "peer",
    "running",
    "running_threaded",
]

# Every wait in the servers is bounded, so a broken test cannot hang CI.
MAX_HOLD_SECONDS = 60.0


class ScriptedServer:
    """Base of the scriptable servers: lifecycle and events, no routes."""

    def __init__(self) -> None:
        self.port = 0
        self.disconnected = asyncio.Event()
        """Set when a client left before its response was finished."""
        self.streaming = asyncio.Event()
        """Set once the scripted part of a response has been written."""
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    def _make_app(self) -> web.Application:
        raise NotImplementedError

    def release(self) -> None:
        """Let a ``hold`` reply finish normally (safe from any thread)."""
        self._call(self._release.set)

    def reset_events(self) -> None:
        """Clear ``disconnected``, ``streaming`` and the release flag."""
        self._call(self.disconnected.clear)
        self._call(self.streaming.clear)
        self._call(self._release.clear)

    async def wait_disconnected(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until the server saw a client leave mid-response."""
        await asyncio.wait_for(self.disconnected.wait(), timeout)

    def wait_disconnected_threadsafe(self, timeout: float = 10.0) -> None:
        """:meth:`wait_disconnected` from another thread than the server's."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self.wait_disconnected(timeout), self._loop)
        future.result(timeout + 5)

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._loop = asyncio.get_running_loop()
        # handler_cancellation: a client that disconnects cancels the handler,
        # which is how the server notices it exactly, even while idle.
        self._runner = web.AppRunner(self._make_app(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end the open connections."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call(self, function: Callable[[], object]) -> None:
        # Events belong to the server's loop: from another thread, hand the
        # call to that loop instead of touching them directly.
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            function()
        else:
            loop.call_soon_threadsafe(function)


def peer(request: web.Request) -> tuple[str, int] | None:
    """The client's address and port (the same port means a reused connection)."""
    info = request.transport.get_extra_info("peername") if request.transport else None
    return (info[0], info[1]) if info else None


S = TypeVar("S", bound=ScriptedServer)


class ThreadedScripted(Generic[S]):
    """A server made by ``factory`` on its own loop in a background thread."""

    def __init__(self, factory: Callable[[], S], name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._factory = factory
        self._thread = threading.Thread(target=self.loop.run_forever, name=name)
        self.server: S | None = None

    def start(self) -> S:
        self._thread.start()

        async def create() -> S:
            server = self._factory()
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(create(), self.loop).result(30)
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


@contextlib.asynccontextmanager
async def running(server: S) -> AsyncIterator[S]:
    """Start ``server`` in the current loop and close it afterwards."""
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@contextlib.contextmanager
def running_threaded(factory: Callable[[], S], name: str) -> Iterator[S]:
    """A server from ``factory`` on a background thread, stopped afterwards."""
    threaded = ThreadedScripted(factory, name)
    try:
        yield threaded.start()
    finally:
        threaded.stop()
