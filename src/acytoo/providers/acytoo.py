"""The Acytoo provider, as the spec describes it."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from yarl import URL

from .._transport import HTTPRequest, open_stream
from .._types import AsyncResult, Messages
from .._validation import check_model, check_temperature, validate_messages
from ..errors import InvalidRequestError
from ._http import (
    TRANSPORT_OPTION_NAMES,
    check_options,
    join_path,
    parse_base_url,
    transport_options,
)
from .base import AsyncGeneratorProvider, alias_option

__all__ = ["Acytoo"]

DEFAULT_URL = "https://chat.acytoo.com"
_A = TypeVar("_A", bound="Acytoo")

DEFAULT_MODEL = "gpt-3.5-turbo"
URL_ENVIRONMENT_VARIABLE = "ACYTOO_URL"
_PAYLOAD_OPTIONS = ("key", "password", "model")


def _create_header() -> dict[str, str]:
    """The request headers the Acytoo service expects."""
    return {"accept": "*/*", "content-type": "application/json"}


def _create_payload(messages: Messages, temperature: float = 0.5, **kwargs: Any) -> dict[str, Any]:
    """The request body: ``{key, model, messages, temperature, password}``, in that order.

    ``key``, ``password`` and ``model`` may be given as keyword arguments;
    other keyword arguments are ignored.
    """
    return {
        "key": kwargs.get("key") or "",
        "model": kwargs.get("model") or DEFAULT_MODEL,
        "messages": messages,
        "temperature": temperature,
        "password": kwargs.get("password") or "",
    }


class Acytoo(AsyncGeneratorProvider):
    """Streams answers from an Acytoo-protocol service (``POST {url}/api/completions``).

    Options (keyword arguments): ``url`` (base URL; also the ``ACYTOO_URL``
    environment variable; ``base_url`` is the same option, as
    :class:`~acytoo.OpenAICompatible` spells it), ``key`` (your own upstream API key), ``password``
    (for a password-protected server), ``temperature`` (0-2, default 0.5),
    ``timeout`` (seconds or :class:`~acytoo.Timeout`), ``max_retries``,
    ``retry_policy`` and ``session`` (an ``aiohttp.ClientSession`` to use
    instead of the shared pool).
    """

    url: ClassVar[str | None] = DEFAULT_URL
    working: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    supports_gpt_35_turbo: ClassVar[bool] = True
    default_model: ClassVar[str] = DEFAULT_MODEL
    models: ClassVar[tuple[str, ...]] = (DEFAULT_MODEL,)

    _create_header = staticmethod(_create_header)
    _create_payload = staticmethod(_create_payload)

    @classmethod
    def options(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's options over the defaults; ``base_url`` is another spelling of ``url``."""
        return alias_option(super().options(kwargs), "url", "base_url")

    @classmethod
    def configure(cls: type[_A], name: str | None = None, **options: Any) -> type[_A]:
        """A subclass whose calls default to ``options``; ``url=`` (or ``base_url=``) sets ``url``."""
        return super().configure(name, **alias_option(dict(options), "url", "base_url"))

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        """POST the conversation and yield the answer as it streams back."""
        options = cls.options(kwargs)
        if not _ACCEPTED_OPTIONS.issuperset(options):
            check_options(cls.__name__, options, _ACCEPTED_OPTIONS)  # raises, naming them
        validate_messages(messages)
        temperature = check_temperature(options.pop("temperature", 0.5))
        for name in _PAYLOAD_OPTIONS:
            if not isinstance(options.get(name, ""), str):
                raise InvalidRequestError(f"{name} must be a string")
        check_model(model)
        if model:
            options["model"] = model
        request = HTTPRequest(
            url=_endpoint(cls.base_url(options.get("url"))),
            headers=cls._create_header(),
            body=cls._create_payload(messages, temperature, **options),
        )
        if proxy is None and options.keys().isdisjoint(TRANSPORT_OPTION_NAMES):
            transport = _DEFAULT_TRANSPORT  # the common call: skip rebuilding the defaults
        else:
            transport = transport_options(proxy, options)
        async with open_stream(request, transport) as response:
            async for text in response.iter_text():
                yield text

    @classmethod
    def base_url(cls, override: str | None = None) -> URL:
        """The service's base URL: ``override``, a subclass's ``url``, ``ACYTOO_URL``, the default."""
        if override is not None:
            return _parse_url(override, "url")
        if cls.url != DEFAULT_URL and cls.url:
            return _parse_url(cls.url, "url")
        return _parse_url(os.environ.get(URL_ENVIRONMENT_VARIABLE) or DEFAULT_URL, "ACYTOO_URL")


# Per-call work is measurable on short answers (docs/benchmarks.md), so the
# pure, repeated parts are cached.
_ACCEPTED_OPTIONS = frozenset({"url", "temperature", *_PAYLOAD_OPTIONS}) | TRANSPORT_OPTION_NAMES
_DEFAULT_TRANSPORT = transport_options(None, {})


def _parse_url(value: object, what: str) -> URL:
    if isinstance(value, str):
        return _parse_url_cached(value, what)
    return parse_base_url(value, what)  # raises InvalidRequestError


@functools.lru_cache(maxsize=64)
def _parse_url_cached(value: str, what: str) -> URL:
    return parse_base_url(value, what)


@functools.lru_cache(maxsize=64)
def _endpoint(base: URL) -> URL:
    return join_path(base, "/api/completions")
