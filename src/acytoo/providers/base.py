"""The provider contract: one abstract method, capabilities as class constants."""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from .._base_errors import InvalidRequestError
from .._sync import iterate_in_background, run_in_background
from ..typing import AsyncResult, CreateResult, Messages

__all__ = [
    "AsyncGeneratorProvider",
    "ProviderType",
    "collect",
    "provider_name",
    "validate_messages",
    "validate_temperature",
]

VALID_ROLES = frozenset({"system", "user", "assistant"})


@runtime_checkable
class ProviderType(Protocol):
    """Anything the server and the CLI can stream from.

    Provider classes satisfy it through their classmethods, provider objects
    (such as :class:`~acytoo.RetryProvider`) through their methods.
    """

    def create_async_generator(
        self, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult: ...

    async def list_models(self, proxy: str | None = None, **kwargs: Any) -> list[str]: ...


class AsyncGeneratorProvider(abc.ABC):
    """Base of every provider: write ``create_async_generator``, get the rest.

    ``create_async`` joins the answer into one string and
    ``create_completion`` iterates it from synchronous code.
    """

    url: ClassVar[str | None] = None
    working: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = False
    supports_system_message: ClassVar[bool] = True
    supports_gpt_35_turbo: ClassVar[bool] = False
    supports_gpt_4: ClassVar[bool] = False
    supports_relay: ClassVar[bool] = False
    """Whether raw OpenAI-protocol requests can be relayed (``open_relay``, see
    :mod:`acytoo.providers._relay`); text-only providers leave it false."""
    default_model: ClassVar[str] = ""
    models: ClassVar[tuple[str, ...]] = ()
    """Model ids known to work; :meth:`list_models` may ask the service instead."""
    default_options: ClassVar[Mapping[str, Any]] = {}
    """Keyword arguments applied to every call; see :meth:`configure`."""

    @classmethod
    @abc.abstractmethod
    def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        """Stream the answer to ``messages`` as text chunks."""

    @classmethod
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """The whole answer as one string."""
        return await collect(cls.create_async_generator(model, messages, proxy, **kwargs))

    @classmethod
    def create_completion(
        cls,
        model: str,
        messages: Messages,
        stream: bool = True,
        proxy: str | None = None,
        **kwargs: Any,
    ) -> CreateResult:
        """The answer from synchronous code: chunk by chunk, or in one piece when ``stream`` is false.

        Safe to call from a thread that is running an event loop.
        """
        if stream:
            return iterate_in_background(
                cls.create_async_generator(model, messages, proxy, **kwargs)
            )
        return iter([run_in_background(cls.create_async(model, messages, proxy, **kwargs))])

    @classmethod
    async def list_models(cls, proxy: str | None = None, **kwargs: Any) -> list[str]:
        """The model ids this provider offers."""
        return list(cls.models or ((cls.default_model,) if cls.default_model else ()))

    @classmethod
    def configure(cls, name: str | None = None, **options: Any) -> type[AsyncGeneratorProvider]:
        """A subclass whose calls default to ``options`` (``url=`` also sets the class's ``url``).

        >>> MyServer = Acytoo.configure(url="http://127.0.0.1:8000", password="s3cret")
        """
        attributes: dict[str, Any] = {"default_options": {**cls.default_options, **options}}
        if "url" in options:
            attributes["url"] = options["url"]
        return type(name or cls.__name__, (cls,), attributes)

    @classmethod
    def options(cls, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` over the class's :attr:`default_options`."""
        return {**cls.default_options, **kwargs}


def provider_name(provider: object) -> str:
    """A human-readable name of a provider class or object."""
    name = getattr(provider, "__name__", None)
    if isinstance(name, str):
        return name
    return str(getattr(provider, "name", type(provider).__name__))


async def collect(chunks: AsyncIterator[str]) -> str:
    """Join a stream of chunks, closing it even on error."""
    parts: list[str] = []
    try:
        async for chunk in chunks:
            parts.append(chunk)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return "".join(parts)


def validate_messages(messages: object) -> Messages:
    """``messages`` as a list of ``{role, content}`` dicts, or :class:`InvalidRequestError`."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list of {role, content} dicts")
    for index, message in enumerate(messages):
        if not isinstance(message, (dict, Mapping)):  # dict first: the common, fast check
            raise InvalidRequestError(
                f"messages[{index}] must be a dict, not {type(message).__name__}"
            )
        role = message.get("role")
        content = message.get("content")
        if role not in VALID_ROLES:
            raise InvalidRequestError(
                f"messages[{index}].role must be one of system, user, assistant; got {role!r}"
            )
        if not isinstance(content, str):
            raise InvalidRequestError(f"messages[{index}].content must be a string")
    return messages


def validate_temperature(temperature: object) -> float:
    """``temperature`` as a float in [0, 2], or :class:`InvalidRequestError`."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
        or not 0 <= temperature <= 2
    ):
        raise InvalidRequestError(f"temperature must be a number from 0 to 2, not {temperature!r}")
    return temperature
