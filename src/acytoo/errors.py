"""The errors acytoo raises.

Every error is an :class:`AcytooError`; each also subclasses the aiohttp or
standard-library type that callers already catch, so ``except
aiohttp.ClientResponseError`` keeps working as the spec promises::

    AcytooError
    ├── InvalidRequestError (ValueError)        bad arguments, raised before any I/O
    ├── TransportError (aiohttp.ClientError)
    │   ├── ConnectError (aiohttp.ClientConnectionError)
    │   │   └── ProxyError                       the proxy refused or failed
    │   ├── APITimeoutError (builtins.TimeoutError)   alias: TimeoutError
    │   │   ├── ConnectTimeout                   no connection within `connect` s
    │   │   └── ReadTimeout                      no bytes for `read` s mid-response
    │   └── IncompleteResponseError (aiohttp.ClientPayloadError)
    │                                            the body ended before it was complete
    ├── APIStatusError (aiohttp.ClientResponseError)   non-2xx answer
    │   ├── BadRequestError           400
    │   ├── AuthenticationError       401
    │   ├── PermissionDeniedError     403
    │   ├── NotFoundError             404
    │   ├── RequestTooLargeError      413
    │   ├── UnprocessableEntityError  422
    │   ├── RateLimitError            429
    │   └── InternalServerError       >= 500
    ├── StreamError                   the service reported an error mid-stream
    └── AllProvidersFailedError       every provider of a RetryProvider failed

Status errors keep ``status``, ``body`` (the first KiB of the response, decoded),
``url`` and ``request_id`` (the response's ``x-request-id`` header, or ``None``); their message leads with the service's own explanation when the
body is JSON with ``msg`` (the Acytoo server's shape) or ``error.message``
(OpenAI's shape).

``TimeoutError`` is kept as an alias of :class:`APITimeoutError` for code
written before the rename; new code uses the name that does not shadow the
built-in (the openai SDK's name).
"""

from __future__ import annotations

import builtins

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._base_errors import (
    AcytooError,
    AllProvidersFailedError,
    InvalidRequestError,
    StreamError,
)

__all__ = [
    "APIStatusError",
    "APITimeoutError",
    "AcytooError",
    "AllProvidersFailedError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectError",
    "ConnectTimeout",
    "IncompleteResponseError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProxyError",
    "RateLimitError",
    "ReadTimeout",
    "RequestTooLargeError",
    "StreamError",
    "TimeoutError",
    "TransportError",
    "UnprocessableEntityError",
]


class TransportError(AcytooError, aiohttp.ClientError):
    """The HTTP exchange failed below the level of a status code."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class ConnectError(TransportError, aiohttp.ClientConnectionError):
    """No connection to the service could be made or kept."""


class ProxyError(ConnectError):
    """The proxy could not be reached or refused to relay the request."""


class APITimeoutError(TransportError, builtins.TimeoutError):
    """A time limit was reached."""


TimeoutError = APITimeoutError
"""Former name of :class:`APITimeoutError`, kept so existing ``except`` clauses work."""


class ConnectTimeout(APITimeoutError):
    """The connection was not established within the connect limit."""


class ReadTimeout(APITimeoutError):
    """The service sent nothing for longer than the read (idle) limit."""


class IncompleteResponseError(TransportError, aiohttp.ClientPayloadError):
    """The connection ended before the response body was complete."""


class APIStatusError(AcytooError, aiohttp.ClientResponseError):
    """The service answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: str,
        url: str,
        headers: CIMultiDictProxy[str] | None = None,
        request_info: aiohttp.RequestInfo | None = None,
    ) -> None:
        if request_info is None:
            request_info = aiohttp.RequestInfo(
                URL(url), "POST", CIMultiDictProxy(CIMultiDict()), URL(url)
            )
        super().__init__(request_info, (), status=status, message=message, headers=headers)
        self.body = body
        self.url = url
        self.request_id: str | None = headers.get("x-request-id") if headers else None
        """The service's id for the failed request (its ``x-request-id``), for its logs."""

    def __str__(self) -> str:
        return self.message

    @property
    def status_code(self) -> int:
        """Alias of ``status``, as in the openai SDK."""
        return self.status


class BadRequestError(APIStatusError):
    """400: the service rejected the request."""


class AuthenticationError(APIStatusError):
    """401: a password or API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials do not allow this request."""


class NotFoundError(APIStatusError):
    """404: no such endpoint or model."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is larger than the service accepts."""


class UnprocessableEntityError(APIStatusError):
    """422: the request is well-formed but cannot be processed."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried automatically before giving up."""


class InternalServerError(APIStatusError):
    """5xx: the service failed; retried automatically before giving up."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The most specific :class:`APIStatusError` subclass for ``status``."""
    if status >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status, APIStatusError)
