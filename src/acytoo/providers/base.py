"""The provider contract: one abstract method, capabilities as class constants."""

from __future__ import annotations

import abc
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

from .._base_errors import InvalidRequestError
from .._sync import iterate_in_background, run_in_background
from .._types import AsyncResult, CreateResult, Messages
from .._validation import check_temperature as validate_temperature
from .._validation import validate_messages

__all__ = [
    "AsyncGeneratorProvider",
    "ProviderType",
    "alias_option",
    "answer_in_background",
    "closing",
    "collect",
    "join_answer",
    "model_once",
    "provider_name",
    "validate_messages",
    "validate_temperature",
]

_P = TypeVar("_P", bound="AsyncGeneratorProvider")

_Method = TypeVar("_Method", bound=Callable[..., Any])


def model_once(method: _Method) -> _Method:
    """``method`` raising :class:`InvalidRequestError` when ``model`` is given twice.

    ``create_async_generator("gpt-3.5-turbo", messages, model="gpt-4")``
    would otherwise fail with Python's bare ``TypeError: got multiple values
    for argument 'model'``. The model is the first argument; ``model=`` is
    only accepted on its own (a keyword call), never as a second value.
    """

    @functools.wraps(method)
    def checked(owner: Any, *args: Any, **kwargs: Any) -> Any:
        if args and "model" in kwargs:
            raise InvalidRequestError(
                f"model given twice: {args[0]!r} as the first argument and "
                f"model={kwargs['model']!r}; pass it once, as the first argument "
                "(to set a default, use configure(model=...))"
            )
        return method(owner, *args, **kwargs)

    return cast(_Method, checked)


def alias_option(options: dict[str, Any], name: str, alias: str) -> dict[str, Any]:
    """``options`` with ``alias`` renamed to ``name`` (``url`` and ``base_url`` are one option).

    Both spellings with different values is an :class:`InvalidRequestError`.
    """
    if alias not in options:
        return options
    value = options.pop(alias)
    if name in options and options[name] != value:
        raise InvalidRequestError(
            f"{name}={options[name]!r} and {alias}={value!r} are the same option; give one"
        )
    options[name] = value
    return options


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every provider's own create_async_generator gets the same clear
        # error for a model given twice (see model_once).
        method = cls.__dict__.get("create_async_generator")
        if isinstance(method, classmethod) and not hasattr(method.__func__, "__wrapped__"):
            cls.create_async_generator = classmethod(  # type: ignore[method-assign,assignment]
                model_once(method.__func__)
            )

    @classmethod
    @abc.abstractmethod
    def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        """Stream the answer to ``messages`` as text chunks."""

    @classmethod
    @model_once
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """The whole answer as one string."""
        return await join_answer(cls, model, messages, proxy, **kwargs)

    @classmethod
    @model_once
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
        return answer_in_background(cls, model, messages, stream, proxy, **kwargs)

    @classmethod
    async def list_models(cls, proxy: str | None = None, **kwargs: Any) -> list[str]:
        """The model ids this provider offers."""
        return list(cls.models or ((cls.default_model,) if cls.default_model else ()))

    @classmethod
    def configure(cls: type[_P], name: str | None = None, **options: Any) -> type[_P]:
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


def closing(
    chunks: AsyncIterator[str],
) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]:
    """``async with closing(chunks)``: closes the stream (and its HTTP response) on exit.

    :func:`contextlib.aclosing` for the async generators every provider
    returns; a plain async iterator without ``aclose`` is left as it is.
    """
    if hasattr(chunks, "aclose"):
        return contextlib.aclosing(chunks)  # type: ignore[type-var]
    return contextlib.nullcontext(chunks)


async def join_answer(
    provider: ProviderType, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
) -> str:
    """``create_async`` of every provider shape: the whole answer of ``provider`` as one string."""
    return await collect(provider.create_async_generator(model, messages, proxy, **kwargs))


def answer_in_background(
    provider: ProviderType,
    model: str,
    messages: Messages,
    stream: bool = True,
    proxy: str | None = None,
    **kwargs: Any,
) -> CreateResult:
    """``create_completion`` of every provider shape, through the shared background loop."""
    if stream:
        return iterate_in_background(
            provider.create_async_generator(model, messages, proxy, **kwargs)
        )
    # A provider's own create_async (a subclass may override it) answers in one piece.
    create_async = getattr(provider, "create_async", None)
    if create_async is None:
        whole = join_answer(provider, model, messages, proxy, **kwargs)
    else:
        whole = create_async(model, messages, proxy, **kwargs)
    return iter([run_in_background(whole)])


async def collect(chunks: AsyncIterator[str]) -> str:
    """Join a stream of chunks, closing it even on error."""
    async with closing(chunks):
        return "".join([chunk async for chunk in chunks])
