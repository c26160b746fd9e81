"""One pooled ``aiohttp.ClientSession`` per event loop (and per SOCKS proxy).

Sessions are created lazily on first use and closed when their loop shuts
down: ``asyncio.run`` and ``asyncio.Runner`` close every open async
generator before closing the loop, so each session is guarded by a suspended
async generator whose ``finally`` closes it.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from aiohttp_socks import ProxyConnector
from yarl import URL

from .._base_errors import InvalidRequestError
from ._proxy import SOCKS_PROXY_SCHEMES

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "RequestTrace",
    "aclose_sessions",
    "close_at_shutdown",
    "connection_limit",
    "current_trace",
    "pooled_session",
    "set_max_connections",
]

DEFAULT_MAX_CONNECTIONS = 1000
"""Connections per pooled session, as in the openai SDK: a request beyond it waits."""

_connection_limit = DEFAULT_MAX_CONNECTIONS


class RequestTrace:
    """What the pool did for one request: the transport's error mapping reads it.

    ``reused``: the request went out on a kept-alive connection, which the
    server may have closed while it sat idle. ``pool_full``: the pool's every
    connection was busy when the request gave up waiting for one.
    """

    __slots__ = ("pool_full", "reused")

    def __init__(self) -> None:
        self.reused = False
        self.pool_full = False


# The request being sent by the current task: its connector fills it in. A
# context variable, not an aiohttp TraceConfig, because traces cost every
# request a dozen awaited signals (measured: ~4 % more client CPU on short
# answers), while this costs a set and a reset.
current_trace: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar(
    "acytoo_request_trace", default=None
)


class _Tracking(aiohttp.BaseConnector):
    """A connector that tells the current request whether it reused a connection."""

    def _init_tracking(self) -> None:
        self._known: weakref.WeakSet[object] = weakref.WeakSet()
        self._handed_out: weakref.WeakSet[Connection] = weakref.WeakSet()

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        trace = current_trace.get()
        try:
            connection = await super().connect(req, traces, timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            # The connect timeout cancels this wait from outside (aiohttp turns
            # the cancellation into its ConnectionTimeoutError afterwards).
            if trace is not None:
                trace.pool_full = self._is_full()
            raise
        protocol = connection.protocol
        if protocol is not None:
            if trace is not None:
                trace.reused = protocol in self._known
            self._known.add(protocol)
        self._handed_out.add(connection)
        return connection

    def _is_full(self) -> bool:
        # Only on the error path: a scan of the connections still in use.
        busy = sum(1 for connection in list(self._handed_out) if not connection.closed)
        return bool(self.limit) and busy >= self.limit


class _TCPConnector(_Tracking, aiohttp.TCPConnector):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_tracking()


class _SocksConnector(_Tracking, ProxyConnector):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_tracking()


_LoopSessions = dict[str, aiohttp.ClientSession]
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = (
    weakref.WeakKeyDictionary()
)
# Strong references to the guards, or they would be collected (and close
# their session) as soon as the creating call returns.
_guards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[AsyncGenerator[None, None]]] = (
    weakref.WeakKeyDictionary()
)


async def pooled_session(proxy: URL | None) -> aiohttp.ClientSession:
    """The running loop's shared session for direct/HTTP-proxied or SOCKS traffic."""
    loop = asyncio.get_running_loop()
    socks = proxy is not None and proxy.scheme.lower() in SOCKS_PROXY_SCHEMES
    key = str(proxy) if socks else ""
    per_loop = _sessions.get(loop)
    if per_loop is None:
        per_loop = _sessions[loop] = {}
    session = per_loop.get(key)
    if session is not None and not session.closed:
        return session
    if socks:
        assert proxy is not None
        scheme = proxy.scheme.lower()
        # socks5h/socks4a mean "let the proxy resolve names" (curl's convention).
        remote_dns = scheme in ("socks5h", "socks4a")
        connector: aiohttp.BaseConnector = _SocksConnector.from_url(
            str(proxy.with_scheme(scheme.rstrip("ha"))), limit=_connection_limit, rdns=remote_dns
        )
    else:
        connector = _TCPConnector(limit=_connection_limit)
    # No cookie jar: the pool is shared by every caller (every client of the
    # server), so a cookie one answer sets must not ride along with the next
    # caller's requests; it also saves the jar's work on every request.
    session = aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=True,
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    per_loop[key] = session
    await close_at_shutdown(loop, session.close)
    return session


async def close_at_shutdown(
    loop: asyncio.AbstractEventLoop, close: Callable[[], Awaitable[None] | None]
) -> None:
    """Call ``close`` when ``loop`` shuts down (or at :func:`aclose_sessions`)."""
    guard = _close_at_shutdown(close)
    await anext(guard)
    _guards.setdefault(loop, []).append(guard)


def set_max_connections(limit: int) -> int:
    """Most connections per pool (0: no limit); returns the old one.

    The lean pool of direct connections applies it at once; aiohttp sessions
    (proxied requests) created from now on.

    The default, :data:`DEFAULT_MAX_CONNECTIONS` (1,000), is the openai SDK's.
    A request beyond the limit waits for a free connection, within its
    ``Timeout.connect``. Sessions already open keep their limit until
    :func:`aclose_sessions`. ``acytoo serve --upstream-connections`` sets it.
    """
    global _connection_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidRequestError("max_connections must be an integer >= 0")
    previous, _connection_limit = _connection_limit, limit
    return previous


def connection_limit() -> int:
    """The limit :func:`set_max_connections` set (0: none)."""
    return _connection_limit


async def _close_at_shutdown(
    close: Callable[[], Awaitable[None] | None],
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        result = close()
        if result is not None:
            await result


async def aclose_sessions() -> None:
    """Close the running loop's pooled sessions now (they reopen on next use)."""
    loop = asyncio.get_running_loop()
    sessions = _sessions.pop(loop, {})
    guards = _guards.pop(loop, [])
    for session in sessions.values():
        await session.close()
    from ._lean import close_lean_pool  # it imports this module

    close_lean_pool()
    for guard in guards:
        await guard.aclose()
