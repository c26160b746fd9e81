"""The aiohttp application: routes, error and rate-limit middlewares, access log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Middleware

from .. import __version__
from .acytoo_protocol import handle_completions
from .backends import Backend, build_backend
from .config import ServerConfig
from .connections import track_requests
from .errors import RequestError, error_response
from .limits import limits_middleware
from .logs import AccessLogger
from .openai_protocol import handle_chat_completions, handle_embeddings, handle_models
from .operations import add_operation_routes, operations_middleware
from .security import BrowserPolicy
from .service import SERVICE, Service
from .shared_state import create_state

__all__ = ["AccessLogger", "create_app", "openapi_document"]

logger = logging.getLogger("acytoo.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def openapi_document() -> bytes:
    """The OpenAPI description of every endpoint (package data)."""
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


def create_app(
    config: ServerConfig | None = None, backend: Backend | None = None
) -> web.Application:
    """The server as an ``aiohttp.web.Application``.

    ``backend`` overrides ``config.backend``; with neither, the offline
    assistant answers.
    """
    config = config or ServerConfig()
    backend = backend or config.backend or build_backend("local")
    from .metrics import Metrics  # prometheus-client loads with the first server, not on import

    metrics = Metrics(backend.name)
    state = create_state(
        config.redis_url, required=config.redis_required, on_error=metrics.count_redis_error
    )
    service = Service(config, backend, state)
    browser = BrowserPolicy.build(config.host, config.allow_origins, config.allowed_hosts)
    # Outermost first: the connection guard's bookkeeping, request ids and metrics,
    # errors as JSON, then the browser checks before any limit or handler runs.
    middlewares: list[Middleware] = [
        track_requests,
        operations_middleware(metrics),
        _errors_as_json,
        browser.middleware(),
    ]
    limits = limits_middleware(service, metrics)
    if limits is not None:
        middlewares.append(limits)
    # The handlers read the body themselves, enforcing config.max_body as they go.
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body)
    app[SERVICE] = service
    app.on_response_prepare.append(browser.add_cors_headers)
    add_operation_routes(app, service, metrics)
    app.on_cleanup.append(lambda _: state.aclose())
    spec = openapi_document()

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=spec, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "backend": service.backend.name, "version": __version__}
        )

    app.router.add_post("/api/completions", handle_completions)
    app.router.add_post("/v1/chat/completions", handle_chat_completions)
    app.router.add_post("/v1/embeddings", handle_embeddings)
    app.router.add_get("/v1/models", handle_models)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/openapi.json", openapi)
    if config.web:
        # Imported here: an API-only server never loads the page's files.
        from ..web import add_web_routes

        add_web_routes(app)
    return app


def _openai_shaped(request: web.Request) -> bool:
    return request.path.startswith("/v1/")


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON: ours, aiohttp's (404, 405, 413) and unexpected ones."""
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc, with_msg=not _openai_shaped(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {
            name: value
            for name, value in exc.headers.items()
            if name.lower() not in ("content-type", "content-length")
        }
        message = exc.reason if exc.status != 405 else f"method {request.method} not allowed"
        mapped = RequestError(exc.status, message, headers=headers)
        return error_response(mapped, with_msg=not _openai_shaped(request))
    except Exception:
        # A bug of ours: log it, and still answer in the protocol's shape.
        logger.exception(
            "unexpected error handling %s %s", request.method, request.rel_url.raw_path[:200]
        )
        internal = RequestError(500, "internal server error", type="server_error")
        return error_response(internal, with_msg=not _openai_shaped(request))
