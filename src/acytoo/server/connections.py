"""Slow and hostile clients: a time limit for request headers, and a cap on connections.

aiohttp waits for a request's headers as long as the client likes, so a
client that sends half of them, or nothing, holds its connection (and a file
descriptor) forever. Every accepted connection is therefore wrapped in a
:class:`_Connection`: an asyncio protocol that passes everything on to
aiohttp's own and adds

- **a header deadline**: from the moment a connection is accepted, and again
  from the end of each request on a kept-alive connection, the next request's
  headers must arrive within ``header_timeout``, or the connection is closed.
  A client trickling header bytes gains nothing: the clock does not restart.
  (The body has its own limit, a stall timeout in ``read_json_body``: 408.)
- **a connection limit**: beyond ``max_connections``, the connection that has
  waited longest for a request is closed to make room (a slow or idle client,
  never one being answered); when every connection is busy with a request,
  the new one is answered 503 and closed.

Which connections are busy is told by :func:`track_requests`, the outermost
middleware of the application. The wrapper never reads aiohttp's internals:
it sees the protocol's public methods and ``request.transport.get_protocol()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from yarl import URL

from .errors import RequestError, error_response

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "ConnectionGuard",
    "GuardedSite",
    "ProtocolLogger",
    "default_max_connections",
    "track_requests",
]

logger = logging.getLogger("acytoo.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_HEADER_TIMEOUT = 20.0
DEFAULT_BODY_TIMEOUT = 20.0
# File descriptors kept for everything but client connections (listening
# sockets, logs, the history of a CLI in the same process, DNS...).
_RESERVED_FDS = 64
_UNLIMITED_FDS_DEFAULT = 65536
# How often the "connection limit reached" warning may repeat.
_WARNING_INTERVAL = 60.0


def default_max_connections() -> int:
    """The connection limit when none is given: half of what the open-files limit
    leaves, since each relayed answer also holds an upstream connection."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 1024
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _UNLIMITED_FDS_DEFAULT
    return max(16, (soft - _RESERVED_FDS) // 2)


def _refusal() -> bytes:
    message = "too many connections; retry later"
    body = json.dumps(
        {
            "msg": message,
            "error": {
                "message": message,
                "type": "server_error",
                "param": None,
                "code": "too_many_connections",
            },
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


_REFUSAL = _refusal()


class ConnectionGuard:
    """The header deadline and the connection limit, shared by a server's connections."""

    def __init__(self, *, max_connections: int, header_timeout: float) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open = 0
        """Connections accepted and not closed (refused ones are not counted)."""
        # Connections waiting for a request, the longest-waiting first (dicts keep
        # insertion order, and removal is O(1)).
        self._waiting: dict[_Connection, None] = {}
        self.timed_out = 0
        self.evicted = 0
        self.refused = 0
        self._warned_at: float | None = None

    def protocol(self, make: Callable[[], asyncio.Protocol]) -> asyncio.Protocol:
        """A protocol for a new connection; ``make`` builds aiohttp's (when admitted)."""
        return _Connection(self, make)

    def _admit(self) -> bool:
        """Room for one more connection: closes the longest-waiting one when full."""
        if self.open < self.max_connections:
            return True
        if self._waiting:
            oldest = next(iter(self._waiting))
            oldest.close_idle()
            self.evicted += 1
            self._warn_full()
            return True
        self.refused += 1
        self._warn_full()
        return False

    def _warn_full(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._warned_at is not None and now - self._warned_at < _WARNING_INTERVAL:
            return
        self._warned_at = now
        logger.warning(
            "connection limit reached (%d): closed %d waiting connection(s) and refused "
            "%d so far; see --max-connections",
            self.max_connections,
            self.evicted,
            self.refused,
        )


class _Connection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the guard's deadline around it."""

    def __init__(self, guard: ConnectionGuard, make: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make = make
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._busy = 0
        self._waiting_since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False

    # -- the asyncio protocol, passed on to aiohttp's

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        transport = cast(asyncio.Transport, transport)
        guard = self._guard
        if not guard._admit():
            transport.write(_REFUSAL)
            transport.close()
            return
        guard.open += 1
        self._counted = True
        self._transport = transport
        self._inner = _with_json_errors(self._make())
        self._inner.connection_made(transport)
        self._start_waiting()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self._inner is not None:
            self._inner.connection_lost(exc)
            self._inner = None

    # -- what the middleware tells

    def request_started(self) -> None:
        self._busy += 1
        self._guard._waiting.pop(self, None)

    def request_finished(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._counted:
            self._start_waiting()

    # -- the deadline

    def close_idle(self) -> None:
        """Close a connection that is waiting for a request (no answer is cut)."""
        self._release()
        if self._transport is not None:
            self._transport.close()

    def _start_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiting_since = loop.time()
        self._guard._waiting[self] = None
        if self._timer is None:
            self._timer = loop.call_at(
                self._waiting_since + self._guard.header_timeout, self._on_deadline
            )

    def _on_deadline(self) -> None:
        self._timer = None
        if not self._counted or self._busy:
            return  # closed, or a request is being answered: request_finished re-arms
        loop = asyncio.get_running_loop()
        deadline = self._waiting_since + self._guard.header_timeout
        if loop.time() < deadline:
            # The connection was busy in between and has waited less than the limit.
            self._timer = loop.call_at(deadline, self._on_deadline)
            return
        self._guard.timed_out += 1
        self.close_idle()

    def _release(self) -> None:
        """Stop counting this connection (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._counted = False
            self._guard.open -= 1
            self._guard._waiting.pop(self, None)


class _JSONErrorsHandler(RequestHandler):
    """aiohttp's protocol, answering a request it cannot parse in JSON.

    aiohttp's own answer is plain text that quotes the bytes it rejected,
    and those may be an ``Authorization`` header: a key or password would be
    sent back, past any proxy that logs responses. This one names the
    problem only, in the shape of every other error of the server.
    """

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's checks and logging (through ProtocolLogger), then our body.
        super().handle_error(request, status, exc, message)
        text = (
            "internal server error"
            if status >= 500
            else f"malformed HTTP request ({HTTPStatus(status).phrase})"
        )
        response = error_response(RequestError(status, text))
        response.force_close()
        return response


def _with_json_errors(protocol: asyncio.Protocol) -> asyncio.Protocol:
    # A class swap (same layout, no new slots) rather than building the
    # handler ourselves, which would mean reading web.Server's private kwargs.
    if type(protocol) is RequestHandler:
        protocol.__class__ = _JSONErrorsHandler
    return protocol


class ProtocolLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's connection-level logger, minus the tracebacks of malformed requests.

    aiohttp logs every request it cannot parse (a NUL in a header, a bad chunk
    size) at ERROR with a traceback, and the exception's text quotes the
    offending bytes, which may be an ``Authorization`` header. Anyone can send
    such bytes, so they get one warning line naming the error instead; other
    exceptions keep their tracebacks.
    """

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        # RequestPayloadError: a body aiohttp could not decode (re-raised where
        # aiohttp drains the rest of it after the 400).
        if isinstance(exc_info, (HttpProcessingError, web.RequestPayloadError)):
            self.logger.warning("rejected a malformed request: %s", type(exc_info).__name__)
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the connection's guard that a request is being answered (so its header
    clock is stopped and it is never closed to make room)."""
    transport = request.transport
    connection = transport.get_protocol() if transport is not None else None
    if transport is None or not isinstance(connection, _Connection):
        # Served without a GuardedSite (aiohttp's test client, embedding).
        return await handler(request)
    connection.request_started()
    try:
        response = await handler(request)
        if response.status == 408 and not response.prepared:
            # A stalled body: send the answer and close now, instead of letting
            # aiohttp wait (up to its lingering time) for the rest of the body.
            await response.prepare(request)
            await response.write_eof()
            transport.close()
        return response
    finally:
        connection.request_finished()


class GuardedSite(web.BaseSite):
    """A TCP site like ``aiohttp.web.TCPSite`` whose connections go through ``guard``.

    With ``sock`` (a bound socket, say one shared by worker processes) it listens
    there; ``host`` and ``port`` then only name the site.
    """

    __slots__ = ("_guard", "_host", "_port", "_reuse_address", "_reuse_port", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        backlog: int = 128,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._sock = sock
        self._host = host
        self._port = port
        self._guard = guard
        self._reuse_address = reuse_address
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        return str(URL.build(scheme="http", host=self._host or "0.0.0.0", port=self._port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard

        def protocol() -> asyncio.Protocol:
            return guard.protocol(server)

        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"backlog": self._backlog}
        if self._reuse_address is not None:
            kwargs["reuse_address"] = self._reuse_address
        if self._reuse_port is not None:
            kwargs["reuse_port"] = self._reuse_port
        if self._sock is not None:
            self._server = await loop.create_server(protocol, sock=self._sock, **kwargs)
            return
        self._server = await loop.create_server(protocol, self._host, self._port, **kwargs)
