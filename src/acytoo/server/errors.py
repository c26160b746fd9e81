"""Error responses, and the mapping from provider failures to HTTP statuses.

Both protocols answer errors with JSON. The Acytoo endpoint's body carries
``msg`` (what the original server's web page reads) next to OpenAI's
``error`` object (what OpenAI-style clients read)::

    {"msg": "...", "error": {"message": "...", "type": "...", "param": null, "code": null}}

The OpenAI endpoint uses OpenAI's shape alone: ``{"error": {...}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from aiohttp import web

from .._base_errors import AllProvidersFailedError, InvalidRequestError, StreamError
from .._transport import error_detail
from ..errors import APIStatusError, IncompleteResponseError, TimeoutError, TransportError
from ._context import FAILURE_HOOK, REQUEST_ID

__all__ = [
    "JSON_CONTENT_TYPE",
    "RequestError",
    "error_body",
    "error_response",
    "log_failure",
    "provider_failure",
]

JSON_CONTENT_TYPE = "application/json"

logger = logging.getLogger("acytoo.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class RequestError(Exception):
    """A request the server answers with an error status instead of text."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = (
            type
            or _TYPES.get(status)
            or ("server_error" if status >= 500 else "invalid_request_error")
        )
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


def error_body(error: RequestError, *, with_msg: bool) -> dict[str, object]:
    """The JSON error body; ``with_msg`` adds the Acytoo protocol's ``msg``."""
    body: dict[str, object] = {}
    if with_msg:
        body["msg"] = error.message
    fields: dict[str, object] = {
        "message": error.message,
        "type": error.type,
        "param": error.param,
        "code": error.code,
    }
    request_id = REQUEST_ID.get()
    if request_id is not None:
        fields["request_id"] = request_id  # the id in the logs and X-Request-Id
    body["error"] = fields
    return body


def error_response(error: RequestError, *, with_msg: bool = True) -> web.Response:
    """``error`` as a JSON response with its status and headers."""
    return web.Response(
        status=error.status,
        body=json.dumps(error_body(error, with_msg=with_msg)).encode(),
        content_type=JSON_CONTENT_TYPE,
        charset="utf-8",
        headers=error.headers,
    )


def provider_failure(exc: BaseException) -> RequestError:
    """The HTTP error for a backend failure; the upstream's status is passed through.

    Statuses: the upstream's own 4xx/5xx; 504 when it timed out; 502 when it
    was unreachable, cut the answer short or failed every way (the original
    server said 500 there; 502 says "the upstream failed, not me").
    """
    if isinstance(exc, AllProvidersFailedError):
        return _all_failed(exc)
    if isinstance(exc, APIStatusError):
        status = exc.status if 400 <= exc.status <= 599 else 502
        detail = error_detail(exc.body) or _first_line(str(exc))
        headers = {}
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return RequestError(status, detail, type="upstream_error", code=exc.status, headers=headers)
    if isinstance(exc, TimeoutError):
        return RequestError(504, f"upstream timed out: {exc}", type="upstream_timeout")
    if isinstance(exc, IncompleteResponseError):
        return RequestError(502, f"upstream answer incomplete: {exc}", type="upstream_error")
    if isinstance(exc, TransportError):
        return RequestError(502, f"upstream unreachable: {exc}", type="upstream_error")
    if isinstance(exc, StreamError):
        return RequestError(502, f"upstream failed: {exc.message}", type="upstream_error")
    if isinstance(exc, InvalidRequestError):
        return RequestError(400, str(exc))
    logger.error("backend failed unexpectedly", exc_info=exc)
    return RequestError(500, "internal error in the backend", type="server_error")


def _all_failed(exc: AllProvidersFailedError) -> RequestError:
    failures = [provider_failure(error) for _, error in exc.errors]
    statuses = {failure.status for failure in failures}
    # One shared upstream status (say every key got 401) is passed through as is.
    status = statuses.pop() if len(statuses) == 1 else 502
    names = [name for name, _ in exc.errors]
    message = "all backends failed: " + "; ".join(
        f"{name}: {failure.message}" for name, failure in zip(names, failures, strict=True)
    )
    return RequestError(status, message, type="upstream_error")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "upstream error"


def log_failure(exc: BaseException, *, after_text: bool) -> None:
    """Log a backend failure without message contents or secrets (type and status only)."""
    hook = FAILURE_HOOK.get()
    if hook is not None:
        hook(exc)
    status = getattr(exc, "status", None)
    where = "mid-stream" if after_text else "before the first chunk"
    logger.warning(
        "backend failed %s: %s%s",
        where,
        type(exc).__name__,
        f" (upstream status {status})" if status is not None else "",
    )
