"""The per-client rate limit and the failed-authentication limit, as one middleware.

Both go through the deployment's :class:`~.shared_state.SharedState`, so
with Redis they hold across workers and machines.

- ``--rate-limit`` (off by default): a client is keyed by the access key it
  sent as ``Authorization: Bearer`` when that key is valid (a made-up key
  would let anyone rotate around the limit), else by its address.
- Failed authentication (on whenever a password or API key is set, even
  without ``--rate-limit``): after ``auth_limit.burst`` wrong secrets a
  client address gets 429 with ``Retry-After`` for everything needing a
  secret, then may try again at ``auth_limit.rate``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

from .errors import RequestError
from .ratelimit import RateLimit, client_identity, key_identity
from .service import Service
from .shared_state import StateUnavailableError

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = ["UNLIMITED_PATHS", "limits_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The chat page's files (/, /static/...) are fixed, small and revalidated, and one
# page load fetches several at once: a low rate limit must not leave it half loaded.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/"})
_UNLIMITED_PREFIX = "/static/"
# Scrapes are not a client's traffic; a wrong secret there still counts as one.
_NOT_RATE_LIMITED = UNLIMITED_PATHS | {"/metrics"}


def limits_middleware(service: Service, metrics: Metrics) -> Middleware | None:
    """The middleware enforcing ``service.config``'s limits; ``None`` when there are none."""
    config = service.config
    rate = config.rate_limit
    auth = config.auth_limit
    if config.workers > 1 and not config.redis_url:
        # Without shared state each worker counts alone: give each 1/N.
        auth = _per_process_share(auth, config.workers)
    if rate is None and not service.protected:
        return None
    state = service.state
    prefix = config.ipv6_prefix

    @web.middleware
    async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in UNLIMITED_PATHS or request.path.startswith(_UNLIMITED_PREFIX):
            return await handler(request)
        client = client_identity(request.remote, prefix)
        try:
            if rate is not None and request.path not in _NOT_RATE_LIMITED:
                wait = await state.acquire("rate:" + _identity(request, service, client), rate)
                if wait > 0:
                    metrics.rate_limited.inc()
                    raise _too_many(wait, "rate limit exceeded")
            if service.protected:
                wait = await state.acquire("auth:" + client, auth, consume=False)
                if wait > 0:
                    metrics.auth_rejections.labels("too_many_failures").inc()
                    raise _too_many(wait, "too many failed authentication attempts")
        except StateUnavailableError:
            raise RequestError(503, "rate limiter unavailable", type="server_error") from None
        try:
            return await handler(request)
        except RequestError as exc:
            if exc.status == 401 and exc.type != "upstream_error" and service.protected:
                metrics.auth_rejections.labels("wrong_secret").inc()
                with contextlib.suppress(StateUnavailableError):  # a 401 either way
                    await state.acquire("auth:" + client, auth)
            raise

    return limits


def _identity(request: web.Request, service: Service, client: str) -> str:
    header = request.headers.get("Authorization")
    if header and service.protected:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and service.check_secret(token):
            return key_identity(token)
    return client


def _per_process_share(limit: RateLimit, workers: int) -> RateLimit:
    """What each of ``workers`` processes may allow so that together they allow ``limit``."""
    return RateLimit(rate=limit.rate / workers, burst=max(1, limit.burst // workers))


def _too_many(wait: float, what: str) -> RequestError:
    seconds = max(1, math.ceil(wait))
    return RequestError(
        429,
        f"{what}; retry in {seconds} s",
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(seconds)},
    )
