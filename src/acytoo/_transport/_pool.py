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

import aiohttp
from aiohttp_socks import ProxyConnector
from yarl import URL

from ._proxy import SOCKS_PROXY_SCHEMES

__all__ = ["aclose_sessions", "pooled_session", "set_connection_limit"]

_connection_limit = 100

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
    guard = _close_at_shutdown(session)
    await anext(guard)
    _guards.setdefault(loop, []).append(guard)
    return session


def set_connection_limit(limit: int) -> int:
    """Most connections per pooled session created from now on (0: no limit); returns the old one.

    The server raises it: every stream it relays holds an upstream connection.
    """
    global _connection_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError("the connection limit must be an integer >= 0")
    previous, _connection_limit = _connection_limit, limit
    return previous


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
