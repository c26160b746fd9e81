"""State every process of a deployment must share, behind one small interface.

Rate limits, failed-password counters and the upstream-key rotation hold
across the workers and machines of one deployment only when they live
outside the process. :class:`SharedState` has two implementations: in this
process's memory (:class:`MemoryState`, the default) and Redis
(:class:`~acytoo.server.redis_state.RedisState`, with ``--redis-url``). The
protocol handlers never know which one they use.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable

from .ratelimit import DEFAULT_MAX_CLIENTS, RateLimit, RateLimiter

__all__ = ["MemoryState", "SharedState", "StateUnavailableError", "create_state"]


class StateUnavailableError(Exception):
    """The shared state cannot be reached and the server was told to fail closed."""


class SharedState(abc.ABC):
    """What the server keeps per deployment rather than per process."""

    @abc.abstractmethod
    async def acquire(self, key: str, limit: RateLimit, *, consume: bool = True) -> float:
        """0 when ``key`` is within ``limit`` (counting this request when ``consume``),
        else the seconds until it is."""

    @abc.abstractmethod
    async def next_index(self, name: str, size: int) -> int:
        """The next position (0 to ``size - 1``) of the rotation ``name``."""

    async def ready(self) -> bool:
        """Whether the state can be reached now (``/readyz``)."""
        return True

    async def aclose(self) -> None:  # noqa: B027 (a no-op unless the state holds connections)
        """Release connections."""


class MemoryState(SharedState):
    """In this process's memory: exact for one process, per worker with several."""

    def __init__(self, max_keys: int = DEFAULT_MAX_CLIENTS) -> None:
        self.limiter = RateLimiter(max_keys)
        self._rotations: dict[str, itertools.count[int]] = {}

    async def acquire(self, key: str, limit: RateLimit, *, consume: bool = True) -> float:
        return self.limiter.acquire(key, limit, consume=consume)

    async def next_index(self, name: str, size: int) -> int:
        counter = self._rotations.setdefault(name, itertools.count())
        return next(counter) % size


def create_state(
    redis_url: str | None, *, required: bool = False, on_error: Callable[[], None] | None = None
) -> SharedState:
    """Redis when ``redis_url`` is given (redis-py is imported only then), else memory."""
    if not redis_url:
        return MemoryState()
    from .redis_state import RedisState

    return RedisState(redis_url, required=required, on_error=on_error)
