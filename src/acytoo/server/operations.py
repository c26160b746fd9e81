"""What operators need: request ids, metrics, ``GET /metrics`` and ``GET /readyz``.

Every request gets an id: the client's ``X-Request-Id`` when it is short
and printable, else a new one. It is returned on every response, written in
every log line about the request and in error bodies, and sent upstream.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware

from .._transport import (
    EXTRA_HEADERS,
    HTTPRequest,
    RetryPolicy,
    Timeout,
    TransportOptions,
    open_stream,
)
from ..errors import APIStatusError, TransportError
from ._context import FAILURE_HOOK, REQUEST_ID
from .logs import FIRST_CHUNK, REQUEST_ID_KEY, STARTED
from .openai_protocol import check_bearer
from .service import Service

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = [
    "MAX_REQUEST_ID",
    "add_operation_routes",
    "operations_middleware",
    "request_id_of",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_REQUEST_ID}}}")
_COMPLETIONS = frozenset({"/api/completions", "/v1/chat/completions"})
_ENDPOINTS = _COMPLETIONS | {"/v1/models", "/healthz", "/readyz", "/metrics", "/openapi.json"}
# /readyz: how long to wait for an upstream to answer at all.
_PROBE = TransportOptions(timeout=Timeout(connect=3.0, read=3.0), retry=RetryPolicy(max_retries=0))


def request_id_of(header: str | None) -> str:
    """The client's id when it is 1-128 printable ASCII characters, else a fresh one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def add_operation_routes(app: web.Application, service: Service, metrics: Metrics) -> None:
    """Add ``/metrics`` and ``/readyz`` to ``app``, and the ``X-Request-Id`` response header."""
    app.on_response_prepare.append(_on_prepare)
    app.router.add_get("/metrics", _metrics_handler(service, metrics))
    app.router.add_get("/readyz", _readyz_handler(service))


def operations_middleware(metrics: Metrics) -> Middleware:
    """The outermost middleware: the request id, its context, and the request metrics."""
    failure_hook = metrics.count_upstream_failure
    # The labelled series of each (endpoint, status) seen, looked up once: a
    # labels() call takes a lock and a few dictionary lookups every time.
    children: dict[tuple[str, int], _Children] = {}

    @web.middleware
    async def operations(request: web.Request, handler: Handler) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        started = loop.time()
        request[STARTED] = started
        request_id = request_id_of(request.headers.get("X-Request-Id"))
        request[REQUEST_ID_KEY] = request_id
        REQUEST_ID.set(request_id)
        EXTRA_HEADERS.set({"X-Request-Id": request_id})
        FAILURE_HOOK.set(failure_hook)
        path = request.path
        endpoint = path if path in _ENDPOINTS else "other"
        completion = path in _COMPLETIONS
        if completion:
            metrics.in_flight.inc()
        status = 499  # the client went away before an answer (nginx's convention)
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if completion:
                metrics.in_flight.dec()
            counted = children.get((endpoint, status))
            if counted is None:
                counted = children[endpoint, status] = _Children(metrics, endpoint, status)
            counted.requests.inc()
            duration = loop.time() - started
            counted.duration.observe(duration)
            if completion and status == 200:
                # A whole (non-streamed) answer is sent after this: its first byte is now.
                first = request.get(FIRST_CHUNK)
                assert counted.first_chunk is not None
                counted.first_chunk.observe(first or duration)
            if completion and response is not None and response.body_length:
                assert counted.relayed_bytes is not None
                counted.relayed_bytes.inc(response.body_length)

    return operations


class _Children:
    """The series one (endpoint, status) pair of a request updates."""

    __slots__ = ("duration", "first_chunk", "relayed_bytes", "requests")

    def __init__(self, metrics: Metrics, endpoint: str, status: int) -> None:
        self.requests = metrics.requests.labels(endpoint, str(status))
        self.duration = metrics.duration.labels(endpoint)
        # Only the completion endpoints have these series (labels() creates one).
        completion = endpoint in _COMPLETIONS
        self.first_chunk = metrics.first_chunk.labels(endpoint) if completion else None
        self.relayed_bytes = metrics.relayed_bytes.labels(endpoint) if completion else None


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
    started = request.get(STARTED)
    if started is not None:
        request[FIRST_CHUNK] = asyncio.get_running_loop().time() - started


def _metrics_handler(service: Service, metrics: Metrics) -> Handler:
    public = service.config.metrics_public

    async def handle_metrics(request: web.Request) -> web.StreamResponse:
        if not public:
            check_bearer(request, service)
        body = metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = metrics.content_type
        return response

    return handle_metrics


def _readyz_handler(service: Service) -> Handler:
    async def handle_readyz(request: web.Request) -> web.Response:
        checks: dict[str, bool] = {"backend": await _backend_reachable(service)}
        if service.config.redis_required:
            checks["redis"] = await service.state.ready()
        ready = all(checks.values())
        return web.json_response(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status=200 if ready else 503,
        )

    return handle_readyz


async def _backend_reachable(service: Service) -> bool:
    """Whether any upstream answers HTTP at all (any status counts: it is there)."""
    urls = service.backend.probe_urls
    if not urls:
        return True  # in-process (the offline assistant) or a backend without URLs
    from yarl import URL

    for url in urls:
        try:
            async with open_stream(HTTPRequest(URL(url), {}, None, method="GET"), _PROBE):
                return True
        except APIStatusError:
            return True
        except TransportError:
            continue
    return False
