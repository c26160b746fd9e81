"""Per-client rate limiting: GCRA (a token bucket kept as one number per client).

Off by default. Each client may make ``burst`` requests at once and then
``rate`` per second; a request over the limit is answered 429 with
``Retry-After``. A client is its TCP peer address (``X-Forwarded-For`` is not
trusted: behind a reverse proxy, limit there instead), an IPv6 peer counted
by its /64 network (one host usually owns a whole /64 and can rotate through
it), or the server's access key it authenticated with.

The in-memory limiter here serves one process; :mod:`.shared_state` puts it
behind the same interface as the Redis one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "RateLimit",
    "RateLimiter",
    "client_identity",
    "key_identity",
    "parse_rate_limit",
]

# Past this many clients the least recently seen one is forgotten (its limit
# starts afresh). About 150 bytes each: 100,000 clients are ~15 MiB.
DEFAULT_MAX_CLIENTS = 100_000
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

    @property
    def interval(self) -> float:
        """Seconds between two requests at the sustained rate."""
        return 1.0 / self.rate


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


def client_identity(remote: str | None, ipv6_prefix: int = 64) -> str:
    """The rate-limit key of a peer address: IPv4 as is, IPv6 by its ``ipv6_prefix`` network."""
    if not remote:
        return "ip:-"
    if ":" not in remote:
        return "ip:" + remote  # IPv4: the common case, no parsing
    try:
        address = ipaddress.IPv6Address(remote.split("%", 1)[0])
    except ValueError:
        return "ip:" + remote
    if address.ipv4_mapped is not None:
        return f"ip:{address.ipv4_mapped}"
    network = ipaddress.IPv6Network((address, ipv6_prefix), strict=False)
    return f"ip:{network}"


def key_identity(secret: str) -> str:
    """The rate-limit key of a client that authenticated with ``secret`` (a digest, never the secret)."""
    return "key:" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimiter:
    """GCRA in memory: per key, the time its bucket is next full ("theoretical arrival").

    Keys live in an LRU of at most ``max_keys``: touching a key and evicting
    the oldest are both O(1), nothing is ever rebuilt per request.
    """

    def __init__(
        self, max_keys: int = DEFAULT_MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._arrivals: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._arrivals)

    def acquire(self, key: str, limit: RateLimit, *, consume: bool = True) -> float:
        """0 when ``key`` may make a request now (taking it when ``consume``), else seconds to wait."""
        now = self._clock()
        arrivals = self._arrivals
        interval = limit.interval
        arrival = max(arrivals.get(key, now), now) + interval
        allowed_at = arrival - limit.burst * interval
        if now < allowed_at:
            return allowed_at - now
        if consume:
            arrivals[key] = arrival
            arrivals.move_to_end(key)
            if len(arrivals) > self.max_keys:
                arrivals.popitem(last=False)
        return 0.0
