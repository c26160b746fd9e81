"""A real, scriptable Acytoo-protocol server on 127.0.0.1 for the client tests.

Each request takes the next queued :class:`Reply` (or the default one) and
is recorded as a :class:`ReceivedRequest`, so tests assert on what the
server really received. Replies can misbehave the ways real servers do: error
statuses with ``Retry-After``, no Content-Type, a short Content-Length,
broken chunked framing, an HTTP/1.0 body that ends at the close, or a stall
that lasts until the client goes away. ``disconnected`` is set when the
server sees the client drop a response it was still serving.

``acytoo_server`` runs it in the test's own event loop;
``threaded_acytoo_server`` runs it on a background thread for synchronous
tests (the sync bridge, subprocess scripts).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "AcytooTestServer",
    "ReceivedRequest",
    "Reply",
    "ThreadedServer",
    "acytoo_server",
    "threaded_acytoo_server",
]

Ending = Literal["complete", "abort", "truncate", "bad_chunk", "hold", "http10"]

_NO_CONTENT_TYPE = "x-test-no-content-type"
# Every wait in the server is bounded, so a broken test cannot hang CI.
_MAX_HOLD_SECONDS = 60.0


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    ``ending`` says how the body ends: ``complete`` (the zero-length chunk),
    ``abort`` (the connection closes without it), ``truncate`` (Content-Length
    promises more than is sent, then the connection closes), ``bad_chunk``
    (invalid chunk framing), ``hold`` (nothing more until the client leaves
    or :meth:`AcytooTestServer.release` is called) or ``http10`` (an
    HTTP/1.0 ``Connection: close`` answer without framing). ``content_type``
    ``None`` sends no Content-Type at all, like the original server.
    """

    chunks: Sequence[bytes] = (b"Hello",)
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    ending: Ending = "complete"


@dataclass(frozen=True)
class ReceivedRequest:
    """One request exactly as the server received it."""

    method: str
    path: str
    version: str
    headers: CIMultiDictProxy[str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    peer: tuple[str, int] | None


class AcytooTestServer:
    """The scriptable server; use it through the fixtures."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.default_reply = Reply()
        self._replies: collections.deque[Reply] = collections.deque()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.disconnected = asyncio.Event()
        """Set when a client left before its response was finished."""
        self.streaming = asyncio.Event()
        """Set once the last scripted chunk of a response has been written."""
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    def reply(self, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests, in order."""
        self._replies.extend(replies)

    def release(self) -> None:
        """Let a ``hold`` reply finish normally."""
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
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(_drop_content_type)
        # handler_cancellation: the handler is cancelled when the client
        # disconnects, which is how the server notices it exactly.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
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

    def _call(self, function: object) -> None:
        assert callable(function)
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            function()
        else:
            loop.call_soon_threadsafe(function)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            ReceivedRequest(
                method=request.method,
                path=request.path_qs,
                version=f"{request.version.major}.{request.version.minor}",
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                raw_headers=tuple(request.raw_headers),
                body=body,
                peer=_peer(request),
            )
        )
        reply = self._replies.popleft() if self._replies else self.default_reply
        try:
            return await self._respond(request, reply)
        except (asyncio.CancelledError, ConnectionError):
            self.disconnected.set()
            raise

    async def _respond(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        if reply.ending == "http10":
            head = f"HTTP/1.0 {reply.status} OK\r\nConnection: close\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in _headers(reply).items())
            transport.write(head.encode("latin-1") + b"\r\n" + b"".join(reply.chunks))
            transport.close()
            return await self._wait_for_close()
        response = web.StreamResponse(status=reply.status, headers=_headers(reply))
        if reply.ending == "truncate":
            response.content_length = sum(len(c) for c in reply.chunks) + 100
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in reply.chunks:
            # One write per chunk, each flushed: the client sees them apart
            # unless its own reads happen to coalesce them.
            await response.write(chunk)
        self.streaming.set()
        if reply.ending == "complete":
            await response.write_eof()
            return response
        if reply.ending == "hold":
            await asyncio.wait_for(self._release.wait(), _MAX_HOLD_SECONDS)
            await response.write_eof()
            return response
        if reply.ending == "bad_chunk":
            transport.write(b"zz-not-hex\r\nxx\r\n")
        transport.close()
        return await self._wait_for_close()

    async def _wait_for_close(self) -> web.StreamResponse:
        # The closed connection cancels this handler (handler_cancellation).
        await asyncio.sleep(_MAX_HOLD_SECONDS)
        raise AssertionError("the connection was not closed")


def _headers(reply: Reply) -> dict[str, str]:
    headers = dict(reply.headers)
    if reply.content_type is None:
        headers[_NO_CONTENT_TYPE] = "1"
    else:
        headers["Content-Type"] = reply.content_type
    return headers


async def _drop_content_type(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp adds application/octet-stream by default; the original Acytoo
    # server sent no Content-Type at all, which is what clients must handle.
    if response.headers.pop(_NO_CONTENT_TYPE, None) is not None:
        response.headers.pop("Content-Type", None)


def _peer(request: web.Request) -> tuple[str, int] | None:
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    return (peer[0], peer[1]) if peer else None


class ThreadedServer:
    """An :class:`AcytooTestServer` on its own loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="acytoo-test-server")
        self.server: AcytooTestServer

    def start(self) -> AcytooTestServer:
        self._thread.start()

        async def create() -> AcytooTestServer:
            server = AcytooTestServer()
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(create(), self.loop).result(30)
        return self.server

    def stop(self) -> None:
        with contextlib.suppress(AttributeError):
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


@pytest.fixture
async def acytoo_server() -> AsyncIterator[AcytooTestServer]:
    """A scriptable Acytoo-protocol server in the test's event loop."""
    server = AcytooTestServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def threaded_acytoo_server() -> Iterator[AcytooTestServer]:
    """A scriptable Acytoo-protocol server on a background thread."""
    threaded = ThreadedServer()
    server = threaded.start()
    try:
        yield server
    finally:
        threaded.stop()
