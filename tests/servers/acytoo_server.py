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
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._scripted import (
    MAX_HOLD_SECONDS,
    ScriptedServer,
    peer,
    running,
    running_threaded,
)

__all__ = [
    "AcytooTestServer",
    "ReceivedRequest",
    "Reply",
    "acytoo_server",
    "threaded_acytoo_server",
]

Ending = Literal["complete", "abort", "truncate", "bad_chunk", "hold", "http10"]

_NO_CONTENT_TYPE = "x-test-no-content-type"


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


class AcytooTestServer(ScriptedServer):
    """The scriptable server; use it through the fixtures.

    ``disconnected`` is set when a client left before its response was
    finished, ``streaming`` once the last scripted chunk has been written.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ReceivedRequest] = []
        self.default_reply = Reply()
        self._replies: collections.deque[Reply] = collections.deque()

    def reply(self, *replies: Reply) -> None:
        """Queue ``replies`` for the next requests, in order."""
        self._replies.extend(replies)

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(_drop_content_type)
        return app

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
                peer=peer(request),
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
            await asyncio.wait_for(self._release.wait(), MAX_HOLD_SECONDS)
            await response.write_eof()
            return response
        if reply.ending == "bad_chunk":
            transport.write(b"zz-not-hex\r\nxx\r\n")
        transport.close()
        return await self._wait_for_close()

    async def _wait_for_close(self) -> web.StreamResponse:
        # The closed connection cancels this handler (handler_cancellation).
        await asyncio.sleep(MAX_HOLD_SECONDS)
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


@pytest.fixture
async def acytoo_server() -> AsyncIterator[AcytooTestServer]:
    """A scriptable Acytoo-protocol server in the test's event loop."""
    async with running(AcytooTestServer()) as server:
        yield server


@pytest.fixture
def threaded_acytoo_server() -> Iterator[AcytooTestServer]:
    """A scriptable Acytoo-protocol server on a background thread."""
    with running_threaded(AcytooTestServer, "acytoo-test-server") as server:
        yield server
