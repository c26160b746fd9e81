"""Per-client rate limiting: a token bucket for each client address.

Off by default. Each address may make ``burst`` requests at once and then
``rate`` per second; a request over the limit is answered 429 with
``Retry-After``. The client address is the TCP peer (``X-Forwarded-For`` is
not trusted: behind a reverse proxy, limit there instead).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter", "parse_rate_limit"]

# Forget buckets idle long enough to be full again once there are this many.
_PRUNE_THRESHOLD = 10_000
_RATE_PATTERN = re.compile(
    r"^\s*(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|second|m|min|minute|h|hour)\s*"
    r"(?:,\s*burst\s*=\s*(?P<burst>\d+)\s*)?$"
)
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_UNIT_SECONDS.update({"h": 3600, "hour": 3600})


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second per client, with bursts of up to ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError("rate must be a positive number of requests per second")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")


def parse_rate_limit(text: str) -> RateLimit:
    """``"10/s"``, ``"600/min,burst=20"`` or ``"1000/hour"`` as a :class:`RateLimit`.

    Without ``burst`` a client may burst up to one second's worth (at least 1).
    """
    match = _RATE_PATTERN.match(text.lower())
    if match is None:
        raise ValueError(f"invalid rate limit {text!r}; expected e.g. '10/s' or '600/min,burst=20'")
    rate = float(match["count"]) / _UNIT_SECONDS[match["unit"]]
    burst = int(match["burst"]) if match["burst"] else max(1, math.ceil(rate))
    return RateLimit(rate=rate, burst=burst)


class RateLimiter:
    """Token buckets keyed by client address."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, client: str) -> float:
        """Take a token for ``client``: 0 if allowed, else seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.get(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > _PRUNE_THRESHOLD:
                self._prune(now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.limit.rate

    def _prune(self, now: float) -> None:
        refill = self.limit.burst / self.limit.rate
        self._buckets = {
            client: (tokens, last)
            for client, (tokens, last) in self._buckets.items()
            if now - last < refill
        }
