"""The OpenAI-compatible provider: any service that speaks ``/v1/chat/completions``.

OpenAI itself, Ollama, vLLM, llama.cpp's server, LiteLLM, another acytoo
server: they all stream ``chat.completion.chunk`` objects as Server-Sent
Events. The request goes through the shared transport (pool, proxy, time
limits, retries before the first byte, status errors); this module only
builds the request and turns the events into text.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, TypeVar

from yarl import URL

from .._transport import HTTPRequest, ResponseStream, ServerSentEvent, SSEDecoder, open_stream
from .._types import AsyncResult, Messages
from .._urls import redact_url
from .._validation import check_max_tokens, check_model, check_temperature, validate_messages
from ..errors import InvalidRequestError, StreamError, TransportError
from ._env_keys import BASE_URL_ENVIRONMENT_VARIABLE, environment_api_key
from ._http import check_options, join_path, parse_base_url, transport_options
from ._relay import check_relay_path
from .base import AsyncGeneratorProvider, alias_option

__all__ = ["OpenAICompatible"]

_O = TypeVar("_O", bound="OpenAICompatible")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-3.5-turbo"
_OPTIONS = ("base_url", "api_key", "temperature", "max_tokens")
# A JSON answer (a non-streamed completion, a model list) is read whole;
# this bounds the memory a misbehaving service can make us use.
_MAX_JSON_BODY = 32 * 1024 * 1024
_EXCERPT = 200
_decode = json.JSONDecoder().raw_decode
# How long to wait for the end of the body after [DONE] before dropping the connection.
_DRAIN_AFTER_DONE = 1.0


class OpenAICompatible(AsyncGeneratorProvider):
    """Streams answers from an OpenAI-compatible ``POST {base_url}/chat/completions``.

    Options (keyword arguments, or defaults set with :meth:`configure`):
    ``base_url`` (or ``url``, as :class:`~acytoo.Acytoo` spells it; default:
    ``OPENAI_BASE_URL``, else OpenAI's), ``api_key``
    (default: ``OPENAI_API_KEY``, but only to OpenAI's API or to
    ``OPENAI_BASE_URL``'s origin; sent as ``Authorization: Bearer``, omitted
    when empty), ``temperature`` (0-2), ``max_tokens`` (1 to 10,000,000),
    ``timeout`` (seconds or :class:`~acytoo.Timeout`), ``max_retries``,
    ``retry_policy`` and ``session`` (an ``aiohttp.ClientSession`` to use
    instead of the shared pool).

    >>> Ollama = OpenAICompatible.configure(base_url="http://127.0.0.1:11434/v1")
    >>> async for text in Ollama.create_async_generator("llama3", messages):
    ...     print(text, end="")

    An error the service reports mid-stream (an ``error`` event or an
    ``{"error": ...}`` object) raises :class:`~acytoo.StreamError` after the
    text that came before it.
    """

    url: ClassVar[str | None] = DEFAULT_BASE_URL
    working: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    supports_gpt_35_turbo: ClassVar[bool] = True
    supports_gpt_4: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_MODEL
    supports_relay: ClassVar[bool] = True
    """Raw OpenAI-protocol requests can be relayed (:meth:`open_relay`)."""

    @classmethod
    def options(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's options over the defaults; ``url`` is another spelling of ``base_url``."""
        return alias_option(super().options(kwargs), "base_url", "url")

    @classmethod
    def configure(cls: type[_O], name: str | None = None, **options: Any) -> type[_O]:
        """A subclass whose calls default to ``options``; ``base_url=`` also sets ``url``.

        >>> Local = OpenAICompatible.configure(base_url="http://127.0.0.1:8000/v1", api_key="")
        """
        provider = super().configure(name, **options)
        if "base_url" in options:
            provider.url = options["base_url"]
        return provider

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        """POST the conversation with ``stream: true`` and yield the answer as it streams."""
        options = cls.options(kwargs)
        check_options(cls.__name__, options, _OPTIONS)
        validate_messages(messages)
        check_model(model)
        body: dict[str, Any] = {
            "model": model or cls.default_model,
            # Only role and content: extra fields (createdAt, ...) are not OpenAI's.
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "stream": True,
        }
        temperature = options.get("temperature")
        if temperature is not None:
            body["temperature"] = check_temperature(temperature)
        max_tokens = options.get("max_tokens")
        if max_tokens is not None:
            body["max_tokens"] = check_max_tokens(max_tokens)
        base = cls.base_url(options.get("base_url"))
        request = HTTPRequest(
            url=join_path(base, "/chat/completions"),
            headers=cls._headers(options, "text/event-stream", base),
            body=body,
        )
        async with open_stream(request, transport_options(proxy, options)) as response:
            if _is_json(response):
                # Some servers ignore "stream" and answer with one completion.
                content = _completion_content(await _read_json(response))
                if content:
                    yield content
                return
            async with contextlib.aclosing(_stream_content(response)) as texts:
                async for text in texts:
                    yield text

    @classmethod
    def open_relay(
        cls, path: str, body: bytes, proxy: str | None = None, **kwargs: Any
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """POST ``body`` (JSON bytes, unchanged) to ``{base_url}{path}``; see
        :class:`~acytoo.providers._relay.RelayProvider`.

        The answer is the upstream's own (an event stream or one JSON
        document), opened after its first chunk; the same transport as
        :meth:`create_async_generator` (pool, proxy, time limits, retries
        before the first byte, status errors).
        """
        options = cls.options(kwargs)
        check_options(cls.__name__, options, _OPTIONS)
        base = cls.base_url(options.get("base_url"))
        request = HTTPRequest(
            url=join_path(base, check_relay_path(path)),
            headers=cls._headers(options, "application/json, text/event-stream", base),
            body=body,
        )
        return open_stream(request, transport_options(proxy, options))

    @classmethod
    async def list_models(cls, proxy: str | None = None, **kwargs: Any) -> list[str]:
        """The model ids ``GET {base_url}/models`` lists."""
        options = cls.options(kwargs)
        check_options(cls.__name__, options, _OPTIONS)
        base = cls.base_url(options.get("base_url"))
        request = HTTPRequest(
            url=join_path(base, "/models"),
            headers=cls._headers(options, "application/json", base),
            body=None,
            method="GET",
        )
        async with open_stream(request, transport_options(proxy, options)) as response:
            listing = await _read_json(response)
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise StreamError(
                f"unexpected model list from {redact_url(request.url)}: {_excerpt(listing)}"
            )
        return [item["id"] for item in data if isinstance(item, dict) and "id" in item]

    @classmethod
    def base_url(cls, override: str | None = None) -> URL:
        """The API base URL: ``override``, a subclass's ``url``, ``OPENAI_BASE_URL``, OpenAI's."""
        if override is not None:
            return parse_base_url(override, "base_url")
        if cls.url != DEFAULT_BASE_URL and cls.url:
            return parse_base_url(cls.url, "base_url")
        environment = os.environ.get(BASE_URL_ENVIRONMENT_VARIABLE)
        return parse_base_url(environment or DEFAULT_BASE_URL, BASE_URL_ENVIRONMENT_VARIABLE)

    @classmethod
    def _headers(cls, options: dict[str, Any], accept: str, base_url: URL) -> dict[str, str]:
        api_key = options.get("api_key")
        if api_key is None:
            api_key = environment_api_key(base_url)
        if not isinstance(api_key, str):
            raise InvalidRequestError("api_key must be a string")
        headers = {"accept": accept, "content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers


class _Done(enum.Enum):
    """What :func:`_careful_content` returns for the ``[DONE]`` event."""

    DONE = "[DONE]"


async def _stream_content(response: ResponseStream) -> AsyncGenerator[str, None]:
    """The ``delta.content`` of each chunk event, up to ``[DONE]``.

    This is the hot path of a long answer: one JSON decode and a few
    lookups per event, inline, nothing else (see bench/sse.py). Everything
    unusual (``[DONE]``, named events, odd JSON) goes to :func:`_careful_content`.
    """
    decoder = SSEDecoder()
    feed = decoder.feed
    decode = _decode
    head = response.first_chunk[:_EXCERPT]
    seen = False
    async with contextlib.aclosing(response.iter_text()) as texts:
        async for text in texts:
            events = feed(text)
            seen = seen or bool(events)
            for event in events:
                data = event.data
                try:
                    # raw_decode skips json.loads' checks and whitespace regexes.
                    chunk, end = decode(data)
                    if end != len(data) or event.event != "message":
                        raise ValueError
                    content = chunk["choices"][0]["delta"]["content"]
                except (LookupError, TypeError, ValueError):
                    content = _careful_content(event)
                    if content is _Done.DONE:
                        await _drain_after_done(response, texts)
                        return
                if content and isinstance(content, str):
                    yield content
    # The body ended cleanly without [DONE]: the service is done too. (A body
    # cut short raised IncompleteResponseError from iter_text instead.)
    last = decoder.flush()
    if not (seen or last):
        _check_was_event_stream(response, head)
    for event in last:
        content = _careful_content(event)
        if content and content is not _Done.DONE:
            yield content


def _careful_content(event: ServerSentEvent) -> str | _Done | None:
    """The slow path of one event: its text (``None``: none) or ``_Done.DONE``.

    Named events and chunks that carry an error raise :class:`StreamError`.
    """
    data = event.data
    if data.strip() == "[DONE]":
        return _Done.DONE
    if event.event != "message":
        _check_named_event(event.event, data)
        return None
    return _chunk_content(data)


async def _drain_after_done(response: ResponseStream, texts: AsyncGenerator[str, None]) -> None:
    """Read what follows ``[DONE]`` so the connection can go back to the pool.

    Normally the end of the body came with ``[DONE]`` and there is nothing to
    wait for. A server that keeps the stream open does not make the caller
    wait: after a short bound the connection is dropped instead. A tail that
    breaks after ``[DONE]`` does not spoil a complete answer either.
    """
    if response.at_eof:
        return

    async def drain() -> None:
        async for _ in texts:
            pass

    with contextlib.suppress(asyncio.TimeoutError, TransportError):
        await asyncio.wait_for(drain(), _DRAIN_AFTER_DONE)


def _check_was_event_stream(response: ResponseStream, head: bytes) -> None:
    """StreamError when a body with no events at all was not an event stream.

    An HTML page from a wrong ``base_url``, say: better said than returned
    as an empty answer.
    """
    if response.content_type != "text/event-stream" and head.strip():
        raise StreamError(
            f"the service did not answer with an event stream "
            f"(Content-Type {response.content_type}): {head!r}",
            body=head,
        )


def _chunk_content(data: str) -> str | None:
    """``delta.content`` of a chunk taking the slow path, or :class:`StreamError`."""
    if not data.strip():
        return None  # an empty event: a keep-alive of sorts
    try:
        chunk = json.loads(data)
    except ValueError:
        raise StreamError(
            f"the service sent an event that is not JSON: {data[:_EXCERPT]!r}", body=data
        ) from None
    if isinstance(chunk, dict) and "error" in chunk:
        raise StreamError(_error_message(chunk["error"]), body=chunk)
    try:
        content = chunk["choices"][0]["delta"]["content"]
    except (LookupError, TypeError):
        return None  # role-only, usage-only or keep-alive chunks carry no text
    return content if isinstance(content, str) else None


def _check_named_event(name: str, data: str) -> None:
    if name == "error":
        try:
            parsed: object = json.loads(data)
        except ValueError:
            parsed = data
        if isinstance(parsed, dict) and "error" in parsed:
            parsed = parsed["error"]
        raise StreamError(_error_message(parsed), body=data)
    # Other named events (pings, vendor extensions) carry no chunk.


def _error_message(error: object) -> str:
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            kind = error.get("type") or error.get("code")
            return f"{message} ({kind})" if isinstance(kind, str) and kind else message
    if isinstance(error, str) and error:
        return error
    return f"the service reported an error: {_excerpt(error)}"


def _is_json(response: ResponseStream) -> bool:
    """Whether the answer is one JSON document rather than an event stream."""
    if response.content_type == "text/event-stream":
        return False
    # Labels lie in both directions (JSON sent as text/plain, SSE sent as
    # application/json); an event stream never opens with "{", JSON always does.
    head = response.first_chunk.lstrip().removeprefix(b"\xef\xbb\xbf")[:1]
    if head:
        return head == b"{"
    return response.content_type == "application/json"


async def _read_json(response: ResponseStream) -> Any:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.iter_bytes():
        size += len(chunk)
        if size > _MAX_JSON_BODY:
            raise StreamError(f"the JSON answer is larger than {_MAX_JSON_BODY} bytes")
        parts.append(chunk)
    raw = b"".join(parts)
    try:
        return json.loads(raw)
    except ValueError:
        raise StreamError(
            f"the service's answer is not valid JSON: {raw[:_EXCERPT]!r}", body=raw[:1024]
        ) from None


def _completion_content(completion: object) -> str | None:
    if isinstance(completion, dict) and "error" in completion:
        raise StreamError(_error_message(completion["error"]), body=completion)
    try:
        content = completion["choices"][0]["message"]["content"]  # type: ignore[index]
    except (LookupError, TypeError):
        raise StreamError(
            f"unexpected completion from the service: {_excerpt(completion)}", body=completion
        ) from None
    return content if isinstance(content, str) else None


def _excerpt(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
