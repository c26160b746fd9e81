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
import re
from collections.abc import Mapping

from aiohttp import web

from .._base_errors import AllProvidersFailedError, InvalidRequestError, StreamError
from .._transport import SHOULD_RETRY_HEADER, error_detail
from ..errors import APIStatusError, APITimeoutError, IncompleteResponseError, TransportError
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

# Keys (sk-..., sk-proj-...), organisations and projects (org-..., proj-...),
# as OpenAI and the services copying it spell them.
_ACCOUNT_IDS = re.compile(r"\b(sk|org|proj)-[A-Za-z0-9_\-*.]{8,}")
_BEARER = re.compile(r"\bBearer\s+\S+", re.IGNORECASE)
_CREDENTIALED_URL = re.compile(r"\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@", re.IGNORECASE)

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


def provider_failure(exc: BaseException, *, client_credentials: bool = False) -> RequestError:
    """The HTTP error for a backend failure; the upstream's status is passed through.

    Statuses: the upstream's own 4xx/5xx; 504 when it timed out; 502 when it
    was unreachable, cut the answer short or failed every way (the original
    server said 500 there; 502 says "the upstream failed, not me"). The
    messages are generic: the upstream's address and the transport's detail
    go to the operator's log (:func:`log_failure`), never to the client.

    An upstream 401/403 is the client's own business only when the request
    went out with the client's own key (``client_credentials``); otherwise it
    was the server's key that was refused: 502, so the client does not read it
    as its own password being wrong.

    Every such answer says ``x-should-retry: false``: the server's transport
    already retried the upstream as its policy allows, and a client retrying
    on top would multiply the attempts.
    """
    if isinstance(exc, AllProvidersFailedError):
        return _all_failed(exc, client_credentials)
    if isinstance(exc, APIStatusError):
        if exc.status in (401, 403) and not client_credentials:
            return _upstream(502, "upstream rejected the server's credentials", code=exc.status)
        if not 400 <= exc.status <= 599:
            # A redirect, say: its target is an address the client need not know.
            return _upstream(502, f"upstream answered HTTP {exc.status}", code=exc.status)
        status = exc.status
        detail = _scrubbed(error_detail(exc.body) or _without_address(exc))
        headers = {}
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return _upstream(status, detail, code=exc.status, headers=headers)
    if isinstance(exc, APITimeoutError):
        return _upstream(504, "upstream timed out", type="upstream_timeout")
    if isinstance(exc, IncompleteResponseError):
        return _upstream(502, "upstream answer incomplete")
    if isinstance(exc, TransportError):
        return _upstream(502, "upstream unreachable")
    if isinstance(exc, StreamError):
        return _upstream(502, f"upstream failed: {exc.message}")
    if isinstance(exc, InvalidRequestError):
        return RequestError(400, str(exc), param=exc.param)
    logger.error("backend failed unexpectedly", exc_info=exc)
    return RequestError(500, "internal error in the backend", type="server_error")


def _upstream(
    status: int,
    message: str,
    *,
    type: str = "upstream_error",
    code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> RequestError:
    return RequestError(
        status,
        message,
        type=type,
        code=code,
        headers={**(headers or {}), SHOULD_RETRY_HEADER: "false"},
    )


def _all_failed(exc: AllProvidersFailedError, client_credentials: bool) -> RequestError:
    failures = [
        provider_failure(error, client_credentials=client_credentials) for _, error in exc.errors
    ]
    statuses = {failure.status for failure in failures}
    # One shared upstream status (say every key got 401) is passed through as is.
    status = statuses.pop() if len(statuses) == 1 else 502
    names = [name for name, _ in exc.errors]
    message = "all backends failed: " + "; ".join(
        f"{name}: {failure.message}" for name, failure in zip(names, failures, strict=True)
    )
    return _upstream(status, message)


def _scrubbed(detail: str) -> str:
    """An upstream's explanation without what identifies the server's account.

    The explanation is worth passing on ("maximum context length is ..."),
    but services put the account's details in it: OpenAI's 429 names the
    organisation (``org-...``), others echo a key or a credentialed URL.
    """
    detail = _ACCOUNT_IDS.sub(lambda match: match[1] + "-…", detail)
    detail = _BEARER.sub("Bearer …", detail)
    return _CREDENTIALED_URL.sub(r"\1…@", detail)


def _without_address(exc: APIStatusError) -> str:
    # The transport's message names the upstream URL ("... (HTTP 500 from
    # http://10.0.0.5/...)"); the client is told the status, not where it is.
    text = str(exc).splitlines()[0] if str(exc) else ""
    if exc.url:
        text = text.replace(f" from {exc.url}", "").replace(exc.url, "the upstream")
    return text or f"upstream answered HTTP {exc.status}"


def log_failure(exc: BaseException, *, after_text: bool, client_credentials: bool = False) -> None:
    """Log a backend failure for the operator: what failed and where, never message contents.

    The detail is the transport's message, whose URLs are already without
    credentials; a StreamError's message may quote the answer, so only its
    type is logged.
    """
    hook = FAILURE_HOOK.get()
    if hook is not None:
        hook(exc)
    where = "mid-stream" if after_text else "before the first chunk"
    if isinstance(exc, AllProvidersFailedError):
        for name, error in exc.errors:
            logger.warning("backend %s failed %s: %s", name, where, _log_detail(error))
        failures = [error for _, error in exc.errors]
    else:
        logger.warning("backend failed %s: %s", where, _log_detail(exc))
        failures = [exc]
    if not client_credentials and any(
        isinstance(error, APIStatusError) and error.status in (401, 403) for error in failures
    ):
        logger.error(
            "the upstream rejected the server's own credentials (upstream key or password): "
            "check --upstream-key / --upstream-password"
        )


def _log_detail(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, APIStatusError):
        return f"{name} (upstream status {exc.status} from {exc.url})"
    if isinstance(exc, (TransportError, InvalidRequestError)):
        return f"{name}: {exc}"
    return name
