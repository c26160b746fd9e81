"""Sending one request and streaming its body: retries, time limits, error mapping."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import aiohttp
import aiohttp_socks
import python_socks
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .. import errors
from .._urls import redact_url
from ._context import with_extra_headers
from ._decoders import TextDecoder
from ._lean import LeanResponse, lean_pool
from ._options import RetryPolicy, Timeout, is_retryable_status, should_retry_header
from ._pool import RequestTrace, connection_limit, current_trace, pooled_session
from ._proxy import HTTP_PROXY_SCHEMES, SOCKS_PROXY_SCHEMES, resolve_proxy

__all__ = ["HTTPRequest", "ResponseStream", "TransportOptions", "open_stream", "redirect_error"]

ERROR_BODY_EXCERPT = 1024
_ERROR_BODY_LIMIT = 64 * 1024
# Read at most this much at once. readany() joins everything buffered, often
# 256 KiB on a fast stream, and buffers that large kept being mapped afresh by
# malloc: about 3,800 page faults per 20 MiB answer against 160 with 64 KiB
# reads, 8 % of the client's CPU (docs/benchmarks.md). Latency is unchanged:
# read(n) returns whatever has arrived, like readany().
_READ_LIMIT = 64 * 1024
# aiohttp-socks >= 0.10 raises its own classes, older versions python-socks's.
_SOCKS_TIMEOUTS = (python_socks.ProxyTimeoutError, aiohttp_socks.ProxyTimeoutError)
_SOCKS_ERRORS = (
    python_socks.ProxyConnectionError,
    python_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyError,
    *_SOCKS_TIMEOUTS,
)
# python-socks reads the SOCKS handshake with plain asyncio streams, so a proxy
# that hangs up (as some do on wrong credentials) raises these unwrapped.
_HANDSHAKE_ERRORS = (asyncio.IncompleteReadError, ConnectionError)
_TRANSLATED_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, *_SOCKS_ERRORS, *_HANDSHAKE_ERRORS)
# What a keep-alive connection the server closed while it sat idle in the pool
# fails with. Such a request never reached the service's application, so it is
# sent again on another connection whatever max_retries says (as browsers and
# urllib3 do); bounded, in case the server dropped many idle connections at once.
_STALE_CONNECTION_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
_MAX_STALE_RETRIES = 8
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_LEAN_SCHEMES = frozenset({"http", "https"})
# An answer from either client: aiohttp's, or the lean one's, which has the same
# attributes the transport reads.
Response = aiohttp.ClientResponse | LeanResponse


@dataclass(frozen=True)
class TransportOptions:
    """How to send: through which proxy and session, within which limits."""

    proxy: str | None = None
    timeout: Timeout = field(default_factory=Timeout)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        if self.session is not None and not isinstance(self.session, aiohttp.ClientSession):
            raise errors.InvalidRequestError("session must be an aiohttp.ClientSession")
        if self.proxy is not None and not isinstance(self.proxy, str):
            raise errors.InvalidRequestError("proxy must be a URL string")


@dataclass(frozen=True)
class HTTPRequest:
    """A JSON POST (or other method) to send; ``body=None`` sends no body (a GET).

    ``body`` is serialised to JSON, except ``bytes``, which are sent as they are.
    """

    url: URL
    headers: Mapping[str, str]
    body: object
    method: str = "POST"


class ResponseStream:
    """A successful response whose first chunk has already arrived."""

    def __init__(self, response: Response, first_chunk: bytes) -> None:
        self._response = response
        self._first_chunk = first_chunk

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def charset(self) -> str | None:
        """The charset named by Content-Type, if any."""
        content_type = self._response.headers.get("Content-Type")
        if content_type is None or "charset" not in content_type.lower():
            return None  # the common case; skips parsing the header
        return self._response.charset

    @property
    def content_type(self) -> str:
        return self._response.content_type

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been received and read."""
        return self._response.content.at_eof()

    @property
    def first_chunk(self) -> bytes:
        """The body's first chunk, to sniff its format (empty once iteration took it)."""
        return self._first_chunk

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        """Non-empty body chunks as they arrive."""
        if self._first_chunk:
            chunk, self._first_chunk = self._first_chunk, b""
            yield chunk
        content = self._response.content
        while True:
            try:
                chunk = await content.read(_READ_LIMIT)
            except _TRANSLATED_ERRORS as exc:
                raise translate_error(exc, str(self._response.url), in_body=True) from exc
            if not chunk:
                return
            yield chunk

    async def iter_text(self) -> AsyncGenerator[str, None]:
        """The body decoded incrementally (UTF-8 unless a charset was named)."""
        # The same loop as iter_bytes, not layered on it: one async generator
        # less per call is measurable on short answers (docs/benchmarks.md).
        decoder = TextDecoder(self.charset)
        chunk, self._first_chunk = self._first_chunk, b""
        content = self._response.content
        while True:
            if chunk:
                text = decoder.decode(chunk)
                # Drop our references before waiting for more: the consumer
                # holds the text, so one large buffer fewer stays alive.
                chunk = b""
                if text:
                    yield text
                    text = ""
            try:
                chunk = await content.read(_READ_LIMIT)
            except _TRANSLATED_ERRORS as exc:
                raise translate_error(exc, str(self._response.url), in_body=True) from exc
            if not chunk:
                break
        tail = decoder.flush()
        if tail:
            yield tail


def open_stream(
    request: HTTPRequest, options: TransportOptions
) -> AbstractAsyncContextManager[ResponseStream]:
    """Send ``request`` and wait for the first chunk of a 2xx answer.

    Use it as ``async with open_stream(request, options) as response``.
    Failures up to that point are retried per ``options.retry``; after it,
    nothing is retried, so no text is ever delivered twice. The response is
    closed on exit; a fully read one returns its connection to the pool.
    """
    return _OpenStream(request, options)


class _OpenStream(AbstractAsyncContextManager[ResponseStream]):
    # A plain class rather than @asynccontextmanager: one generator and its
    # bookkeeping less per request, measurable on short answers.
    __slots__ = ("_options", "_request", "_response")

    def __init__(self, request: HTTPRequest, options: TransportOptions) -> None:
        self._request = request
        self._options = options
        self._response: Response | None = None

    async def __aenter__(self) -> ResponseStream:
        self._response, first_chunk = await _send(self._request, self._options)
        return ResponseStream(self._response, first_chunk)

    async def __aexit__(self, *exc_info: object) -> None:
        response = self._response
        if response is None:
            return
        self._response = None
        if response.content.at_eof():
            response.release()
        else:
            # Mid-body: the connection cannot be reused, drop it.
            response.close()


async def _send(request: HTTPRequest, options: TransportOptions) -> tuple[Response, bytes]:
    """The 2xx response and its first chunk, retrying failures before it."""
    proxy = resolve_proxy(request.url, options.proxy)
    if options.session is not None and proxy is not None and proxy.scheme in SOCKS_PROXY_SCHEMES:
        # SOCKS lives in the connector, which a caller's session brings with
        # it; silently going direct would bypass the proxy the user chose.
        raise errors.InvalidRequestError(
            f"cannot send through the SOCKS proxy {proxy.with_user(None)} with a caller's "
            "session=: give that session an aiohttp_socks.ProxyConnector, or pass proxy=''"
        )
    headers = dict(request.headers)
    has_userinfo = request.url.raw_user is not None or request.url.raw_password is not None
    if has_userinfo and any(name.lower() == "authorization" for name in headers):
        # aiohttp would raise a bare ValueError ("Cannot combine AUTHORIZATION
        # header with AUTH argument or credentials encoded in URL").
        # Not naming the URL: behind a server, it is the server's internal upstream.
        raise errors.InvalidRequestError(
            "the base URL carries a user name or password and the request also has an "
            "API key: give the credentials one way, not both"
        )
    _check_header_values(headers)
    data = None if request.body is None else _encode_body(request.body)
    # Direct connections go through the lean HTTP/1.1 client (_lean.py); a
    # proxy, a caller's session or credentials in the URL through aiohttp's.
    lean = (
        await lean_pool()
        if options.session is None
        and proxy is None
        and not has_userinfo
        and request.url.scheme in _LEAN_SCHEMES
        else None
    )
    session = None if lean is not None else options.session or await pooled_session(proxy)
    http_proxy = proxy if proxy is not None and proxy.scheme in HTTP_PROXY_SCHEMES else None
    timeout = _client_timeout(options.timeout)
    attempt = stale_retries = 0
    while True:
        response: Response | None = None
        trace = RequestTrace()
        try:
            if lean is not None:
                response = await lean.request(
                    request.method,
                    request.url,
                    with_extra_headers(headers),
                    data,
                    connect_timeout=options.timeout.connect,
                    read_timeout=options.timeout.read,
                    trace=trace,
                )
            else:
                assert session is not None
                token = current_trace.set(trace)
                try:
                    response = await session.request(
                        request.method,
                        request.url,
                        data=data,
                        headers=with_extra_headers(headers),
                        proxy=http_proxy,
                        timeout=timeout,
                        # A redirect would replay the body (keys, passwords) to wherever
                        # the Location points; the caller decides instead.
                        allow_redirects=False,
                    )
                finally:
                    current_trace.reset(token)
            if response.status == 407 and http_proxy is not None:
                # A plain-http request through an HTTP proxy gets the proxy's
                # refusal as an ordinary response; it is the proxy's error,
                # not the service's.
                raise errors.ProxyError(
                    f"proxy refused the request: {response.status} {response.reason}",
                    url=redact_url(request.url),
                )
            if response.status in _REDIRECT_STATUSES:
                raise redirect_error(response)
            if not 200 <= response.status < 300:
                raise await status_error(response)
            first_chunk = await response.content.read(_READ_LIMIT)
        except asyncio.CancelledError:
            if response is not None:
                response.close()
            raise
        except _TRANSLATED_ERRORS as exc:
            if response is not None:
                response.close()
            if (
                response is None
                and trace.reused
                and isinstance(exc, _STALE_CONNECTION_ERRORS)
                and stale_retries < _MAX_STALE_RETRIES
            ):
                stale_retries += 1
                continue
            error = translate_error(exc, str(request.url), in_body=False, trace=trace)
            if attempt >= options.retry.max_retries or not _retryable(error):
                error.attempts = attempt + 1
                if isinstance(exc, errors.AcytooError):
                    raise
                raise error from exc
            await asyncio.sleep(options.retry.delay(attempt, _headers_of(error)))
            attempt += 1
            continue
        return response, first_chunk


@functools.lru_cache(maxsize=32)
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # No total limit: a long answer that keeps streaming is fine. ``connect``
    # also bounds the wait for a free connection of a full pool.
    return aiohttp.ClientTimeout(
        total=None, connect=timeout.connect, sock_connect=timeout.connect, sock_read=timeout.read
    )


def _encode_body(body: object) -> bytes:
    if isinstance(body, bytes):
        return body  # already JSON: a relayed request goes out byte for byte
    try:
        return json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800", from a bad decode upstream of the caller)
        # has no UTF-8 form.
        raise errors.InvalidRequestError(
            "the request contains text that is not valid Unicode (a lone surrogate "
            "such as \\ud800) and cannot be sent"
        ) from None
    except (TypeError, ValueError) as exc:
        raise errors.InvalidRequestError(f"the request cannot be sent as JSON: {exc}") from None


def _check_header_values(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not value.isascii() or "\r" in value or "\n" in value:
            # Named, never shown: the value is usually a key.
            what = "the API key" if name.lower() == "authorization" else f"header {name}"
            raise errors.InvalidRequestError(
                f"{what} contains characters that cannot be sent in an HTTP header "
                "(only printable ASCII is allowed)"
            )


def _retryable(error: errors.AcytooError) -> bool:
    if isinstance(error, errors.APIStatusError):
        # The service's own word wins, both ways (as in the openai SDK): a relay
        # that already retried upstream says "false".
        verdict = should_retry_header(error.headers)
        if verdict is not None:
            return verdict
        return is_retryable_status(error.status)
    if isinstance(error, errors.ProxyError):
        return False
    return isinstance(
        error, (errors.ConnectError, errors.APITimeoutError, errors.IncompleteResponseError)
    )


def _headers_of(error: errors.AcytooError) -> Mapping[str, str] | None:
    return error.headers if isinstance(error, errors.APIStatusError) else None


def translate_error(
    exc: BaseException, url: str, *, in_body: bool, trace: RequestTrace | None = None
) -> errors.AcytooError:
    """The acytoo error for a lower-level one; most specific cases first.

    ``url`` is shown without its credentials, in the message and the error's ``url``.
    """
    if isinstance(exc, errors.AcytooError):
        return exc
    url = redact_url(url)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return errors.ProxyError(
            f"proxy refused the connection: {exc.status} {exc.message}", url=url
        )
    if isinstance(exc, _SOCKS_TIMEOUTS):
        return errors.ConnectTimeout(f"proxy did not answer in time: {exc}", url=url)
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, *_SOCKS_ERRORS)):
        return errors.ProxyError(f"proxy failed: {exc}", url=url)
    if isinstance(exc, _HANDSHAKE_ERRORS) and not isinstance(exc, aiohttp.ClientError):
        if in_body:
            return errors.IncompleteResponseError(
                f"the response from {url} ended before it was complete: {exc!r}", url=url
            )
        return errors.ProxyError(
            "the proxy closed the connection during its handshake "
            f"(it may have rejected the credentials): {exc!r}",
            url=url,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        if trace is not None and trace.pool_full:
            return errors.ConnectTimeout(
                f"could not connect to {url} in time: all {connection_limit()} connections "
                "of the pool were busy and the time went into waiting for one to free up "
                "(see acytoo.set_max_connections)",
                url=url,
            )
        return errors.ConnectTimeout(f"could not connect to {url} in time", url=url)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return errors.ReadTimeout(f"{url} sent nothing within the read time limit", url=url)
    if isinstance(exc, aiohttp.ClientPayloadError) or (
        in_body and isinstance(exc, aiohttp.ClientConnectionError)
    ):
        return errors.IncompleteResponseError(
            f"the response from {url} ended before it was complete: {exc}", url=url
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        # Not a status from the service (those are APIStatusError already) but
        # aiohttp's parser rejecting the bytes: broken chunk framing that came
        # in the same read as the headers surfaces here instead of as a
        # ClientPayloadError, so map both to the same error.
        return errors.IncompleteResponseError(
            f"the response from {url} was malformed: {exc.message}", url=url
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return errors.InvalidRequestError(f"invalid URL: {redact_url(str(exc.url))}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.ConnectError(f"cannot connect to {url}: {exc.os_error}", url=url)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return errors.ConnectError(
            f"connection to {url} failed: {exc or type(exc).__name__}", url=url
        )
    return errors.TransportError(f"request to {url} failed: {exc}", url=url)


async def status_error(response: Response) -> errors.APIStatusError:
    """The error for a non-2xx ``response``, carrying its status and body excerpt."""
    try:
        raw = await _read_prefix(response, _ERROR_BODY_LIMIT)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        raw = b""
    decoder = TextDecoder(response.charset)
    excerpt = decoder.decode(raw[:ERROR_BODY_EXCERPT]) + decoder.flush()
    body = TextDecoder(response.charset).decode(raw)
    detail = error_detail(body) or response.reason or "error"
    url = redact_url(response.url)
    message = f"{detail} (HTTP {response.status} from {url})"
    if excerpt:
        message += f"; body: {excerpt}"
    cls = errors.status_error_class(response.status)
    return cls(
        message,
        status=response.status,
        body=excerpt,
        url=url,
        headers=response.headers,
        request_info=_public_request_info(response),
    )


def redirect_error(response: Response) -> errors.APIStatusError:
    """The error for a 3xx answer: redirects are not followed, the target is named."""
    url = redact_url(response.url)
    location = response.headers.get("Location")
    target = "no Location"
    headers = CIMultiDict(response.headers)
    if location:
        try:
            target = redact_url(response.url.join(URL(location)))
        except ValueError:
            target = redact_url(location)
        headers["Location"] = redact_url(location)  # the error's repr shows its headers
    message = (
        f"the service redirected the request (HTTP {response.status} from {url}) to "
        f"{target}; redirects are not followed, so the request body (keys, passwords) "
        "is not replayed elsewhere: use the target as the base URL if you trust it"
    )
    return errors.APIStatusError(
        message,
        status=response.status,
        body="",
        url=url,
        headers=CIMultiDictProxy(headers),
        request_info=_public_request_info(response),
    )


def _public_request_info(response: Response) -> aiohttp.RequestInfo:
    # aiohttp's request_info holds the sent headers (Authorization) and the URL
    # with its credentials; an error's repr() would show both.
    public = response.url.with_user(None)
    return aiohttp.RequestInfo(public, response.method, CIMultiDictProxy(CIMultiDict()), public)


def error_detail(body: str) -> str | None:
    """The service's own explanation from an error body: ``msg`` or ``error.message``."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    msg = parsed.get("msg")
    if isinstance(msg, str) and msg:
        return msg
    error = parsed.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(error, str) and error:
        return error
    return None


async def _read_prefix(response: Response, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)
