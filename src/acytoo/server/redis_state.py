"""Shared state in Redis: one limit for every worker on every machine.

Uses redis-py's asyncio client. A rate-limit decision is one Lua script
(GCRA: per key, the time its bucket is next full), so concurrent servers
never race, and Redis's own clock is the only clock. The upstream-key
rotation is an ``INCR``.

When Redis cannot be reached the server keeps serving: it falls back to this
process's own memory (limits then hold per process), logs a warning at most
once a minute and counts the error; after a pause of :data:`RETRY_AFTER`
seconds the next request tries Redis again, so it recovers by itself. With
``required=True`` it fails closed instead: :class:`StateUnavailableError`,
which the server answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from yarl import URL

from .ratelimit import RateLimit
from .shared_state import MemoryState, SharedState, StateUnavailableError

__all__ = ["KEY_PREFIX", "RETRY_AFTER", "RedisState"]

logger = logging.getLogger("acytoo.server")

KEY_PREFIX = "acytoo:"
RETRY_AFTER = 1.0
"""Seconds to serve from memory after a Redis failure before trying Redis again."""
# Short: a Redis that hangs must not hold every request for long.
_SOCKET_TIMEOUT = 0.5
_WARNING_INTERVAL = 60.0

# KEYS[1]: the key; ARGV: interval (us), burst, consume (1/0).
# Returns 0 when allowed, else the microseconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local arrival = tonumber(redis.call('GET', KEYS[1]) or now)
if arrival < now then arrival = now end
arrival = arrival + interval
local allowed_at = arrival - tonumber(ARGV[2]) * interval
if now < allowed_at then return allowed_at - now end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], arrival, 'PX', math.ceil((arrival - now) / 1000) + 1)
end
return 0
"""

T = TypeVar("T")


def redacted(url: str) -> str:
    """``url`` without its user name and password (for logs and errors)."""
    try:
        return str(URL(url).with_user(None))
    except (ValueError, TypeError):
        return "<invalid Redis URL>"


class RedisState(SharedState):
    """Shared state in the Redis at ``url``; falls back to memory while it is down."""

    def __init__(
        self, url: str, *, required: bool = False, on_error: Callable[[], None] | None = None
    ) -> None:
        self.url = redacted(url)
        self.required = required
        self._on_error = on_error
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT,
            socket_connect_timeout=_SOCKET_TIMEOUT,
            # No retries inside redis-py: a failure falls back at once.
            retry=Retry(NoBackoff(), 0),
        )
        self._gcra = self._client.register_script(_GCRA)
        self._fallback = MemoryState()
        self._down_until = 0.0
        self._last_warning = -_WARNING_INTERVAL

    async def acquire(self, key: str, limit: RateLimit, *, consume: bool = True) -> float:
        interval = max(1, round(limit.interval * 1_000_000))
        args = [interval, limit.burst, 1 if consume else 0]
        waited = await self._call(
            lambda: self._gcra(keys=[KEY_PREFIX + key], args=args),
            lambda: self._fallback.acquire(key, limit, consume=consume),
        )
        return float(waited) / 1_000_000 if waited else 0.0

    async def next_index(self, name: str, size: int) -> int:
        count = await self._call(
            lambda: self._client.incr(KEY_PREFIX + "rotation:" + name),
            lambda: self._fallback.next_index(name, size),
        )
        return (int(count) - 1) % size if count else 0

    async def ready(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError, asyncio.TimeoutError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, remote: Callable[[], Awaitable[Any]], local: Callable[[], Awaitable[Any]]
    ) -> Any:
        now = time.monotonic()
        if now >= self._down_until:
            try:
                return await remote()
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                self._failed(exc, now)
        if self.required:
            raise StateUnavailableError(f"Redis at {self.url} is unavailable")
        return await local()

    def _failed(self, exc: BaseException, now: float) -> None:
        self._down_until = now + RETRY_AFTER
        if self._on_error is not None:
            self._on_error()
        if now - self._last_warning >= _WARNING_INTERVAL:
            self._last_warning = now
            mode = "answering 503" if self.required else "using per-process limits meanwhile"
            logger.warning(
                "Redis at %s unavailable (%s), %s; retrying every %g s",
                self.url,
                type(exc).__name__,
                mode,
                RETRY_AFTER,
            )
