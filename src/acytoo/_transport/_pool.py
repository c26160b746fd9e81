"""One pooled ``aiohttp.ClientSession`` per event loop (and per SOCKS proxy).

Sessions are created lazily on first use and closed when their loop shuts
down: ``asyncio.run`` and ``asyncio.Runner`` close every open async
generator before closing the loop, so each session is guarded by a suspended
async generator whose ``finally`` closes it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator
from types import SimpleNamespace

import aiohttp
from aiohttp_socks import ProxyConnector
from yarl import URL

from .._base_errors import InvalidRequestError
from ._proxy import SOCKS_PROXY_SCHEMES

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "RequestTrace",
    "aclose_sessions",
    "connection_limit",
    "pooled_session",
    "set_max_connections",
]

DEFAULT_MAX_CONNECTIONS = 1000
"""Connections per pooled session, as in the openai SDK: a request beyond it waits."""

_connection_limit = DEFAULT_MAX_CONNECTIONS


class RequestTrace:
    """What the pool did for one request: the transport's error mapping reads it.

    ``queued``: the request had to wait for a free connection (the pool was
    full). ``reused``: it went out on a kept-alive connection, which the
    server may have closed while it sat idle.
    """

    __slots__ = ("queued", "reused")

    def __init__(self) -> None:
        self.queued = False
        self.reused = False


async def _on_queued(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionQueuedStartParams,
) -> None:
    trace = context.trace_request_ctx
    if isinstance(trace, RequestTrace):
        trace.queued = True


async def _on_reused(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    trace = context.trace_request_ctx
    if isinstance(trace, RequestTrace):
        trace.reused = True


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_queued_start.append(_on_queued)
    config.on_connection_reuseconn.append(_on_reused)
    config.freeze()
    return config


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
        connector: aiohttp.BaseConnector = ProxyConnector.from_url(
            str(proxy.with_scheme(scheme.rstrip("ha"))), limit=_connection_limit, rdns=remote_dns
        )
    else:
        connector = aiohttp.TCPConnector(limit=_connection_limit)
    session = aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=True,
        trace_configs=[_trace_config()],
    )
    per_loop[key] = session
    guard = _close_at_shutdown(session)
    await anext(guard)
    _guards.setdefault(loop, []).append(guard)
    return session


def set_max_connections(limit: int) -> int:
    """Most connections per pooled session created from now on (0: no limit); returns the old one.

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


async def _close_at_shutdown(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()


async def aclose_sessions() -> None:
    """Close the running loop's pooled sessions now (they reopen on next use)."""
    loop = asyncio.get_running_loop()
    sessions = _sessions.pop(loop, {})
    guards = _guards.pop(loop, [])
    for session in sessions.values():
        await session.close()
    for guard in guards:
        await guard.aclose()
