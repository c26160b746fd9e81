"""Failover across providers, as gpt4free users know it."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncGenerator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from .._base_errors import AllProvidersFailedError, InvalidRequestError
from .._types import CreateResult, Messages
from ._relay import FailoverRelay, RelayProvider, relay_capable
from .base import (
    ProviderType,
    answer_in_background,
    closing,
    join_answer,
    model_once,
    provider_name,
)

if TYPE_CHECKING:
    from .._transport import ResponseStream

__all__ = ["RetryProvider"]

_log = logging.getLogger(__name__)


class RetryProvider:
    """One provider made of several: on a failure before the first chunk, try the next.

    Providers are tried in the given order, or in a fresh random order on
    every call when ``shuffle`` is true (pass ``rng``, a
    :class:`random.Random`, to make that order reproducible). Once a
    provider has yielded text, its errors propagate: switching providers
    then would repeat or contradict what the caller already has. When every
    provider fails, :class:`~acytoo.AllProvidersFailedError` lists each
    failure. Invalid arguments (:class:`~acytoo.InvalidRequestError`) are
    the caller's mistake, not a provider's, and are raised at once.

    >>> provider = RetryProvider([OpenAICompatible.configure(base_url=...), Acytoo])
    >>> async for text in provider.create_async_generator("gpt-3.5-turbo", messages):
    ...     print(text, end="")
    """

    working = True
    supports_stream = True

    def __init__(
        self,
        providers: Sequence[ProviderType],
        shuffle: bool = False,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence):
            raise InvalidRequestError("providers must be a sequence of providers")
        if not providers:
            raise InvalidRequestError("RetryProvider needs at least one provider")
        for provider in providers:
            if not callable(getattr(provider, "create_async_generator", None)):
                raise InvalidRequestError(
                    f"{provider!r} is not a provider (it has no create_async_generator)"
                )
        self.providers: tuple[ProviderType, ...] = tuple(providers)
        self.shuffle = shuffle
        self._rng = rng if rng is not None else random.Random()
        self.name = f"RetryProvider({', '.join(provider_name(p) for p in self.providers)})"

    def __repr__(self) -> str:
        return f"<{self.name}{' shuffled' if self.shuffle else ''}>"

    @property
    def supports_message_history(self) -> bool:
        """True when every provider keeps the conversation's history."""
        return all(getattr(p, "supports_message_history", False) for p in self.providers)

    @property
    def default_model(self) -> str:
        """The first provider's default model."""
        return str(getattr(self.providers[0], "default_model", "") or "")

    @property
    def models(self) -> tuple[str, ...]:
        """The providers' known models, without repeats, in provider order."""
        return tuple(dict.fromkeys(m for p in self.providers for m in getattr(p, "models", ())))

    @property
    def supports_relay(self) -> bool:
        """True when every provider relays raw requests (see :meth:`open_relay`)."""
        return all(relay_capable(p) is not None for p in self.providers)

    def open_relay(
        self, path: str, body: bytes, proxy: str | None = None, **kwargs: Any
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """Relay ``body`` through the first provider whose answer starts (failover
        before the first byte, as :meth:`create_async_generator` does)."""
        relays: list[RelayProvider] = []
        for provider in self.order():
            relay = relay_capable(provider)
            if relay is None:
                raise InvalidRequestError(f"{provider_name(provider)} cannot relay requests")
            relays.append(relay)
        return FailoverRelay(relays, path, body, proxy, kwargs)

    def order(self) -> list[ProviderType]:
        """The providers in the order the next call tries them."""
        providers = list(self.providers)
        if self.shuffle:
            self._rng.shuffle(providers)
        return providers

    @model_once
    async def create_async_generator(
        self, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[str, None]:
        """Stream the answer from the first provider that starts answering."""
        failures: list[tuple[str, BaseException]] = []
        for provider in self.order():
            started = False
            stream = provider.create_async_generator(model, messages, proxy, **kwargs)
            try:
                # Closes the provider's stream (and its response) even when the
                # caller stopped reading early.
                async with closing(stream):
                    async for chunk in stream:
                        started = True
                        yield chunk
            except InvalidRequestError:
                raise
            except Exception as exc:
                if started:
                    raise
                failures.append((provider_name(provider), exc))
                _log.info(
                    "%s failed before answering (%s: %s); trying the next provider",
                    provider_name(provider),
                    type(exc).__name__,
                    exc,
                )
                continue
            return
        # Chained to the last failure, so a traceback shows where it came from.
        raise AllProvidersFailedError(failures) from failures[-1][1]

    @model_once
    async def create_async(
        self, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """The whole answer as one string."""
        return await join_answer(self, model, messages, proxy, **kwargs)

    @model_once
    def create_completion(
        self,
        model: str,
        messages: Messages,
        stream: bool = True,
        proxy: str | None = None,
        **kwargs: Any,
    ) -> CreateResult:
        """The answer from synchronous code, through the shared background loop."""
        return answer_in_background(self, model, messages, stream, proxy, **kwargs)

    async def list_models(self, proxy: str | None = None, **kwargs: Any) -> list[str]:
        """Every provider's models, without repeats, in provider order.

        A provider that cannot list its models is skipped; if none can,
        :class:`~acytoo.AllProvidersFailedError` says why.
        """
        models: dict[str, None] = {}
        failures: list[tuple[str, BaseException]] = []
        for provider in self.providers:
            try:
                listed = await provider.list_models(proxy, **kwargs)
            except InvalidRequestError:
                raise
            except Exception as exc:
                failures.append((provider_name(provider), exc))
                continue
            models.update(dict.fromkeys(listed))
        if failures and len(failures) == len(self.providers):
            raise AllProvidersFailedError(failures)
        return list(models)
