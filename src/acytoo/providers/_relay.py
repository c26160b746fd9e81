"""The relay capability: passing an OpenAI-protocol request through unchanged.

A provider that speaks the OpenAI protocol itself can take a client's
request body as it is and hand back the upstream's response as it is: the
server then forwards every parameter (tomorrow's too) and relays every field
of the answer (``tool_calls``, ``logprobs``, the upstream's ``usage``...)
without knowing what they mean. Providers declare it with the class
constant ``supports_relay`` and implement :meth:`RelayProvider.open_relay`;
the server uses the capability, never a concrete class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from .._base_errors import AllProvidersFailedError, InvalidRequestError
from .base import provider_name

if TYPE_CHECKING:  # the transport imports aiohttp, which Local alone must not need
    from .._transport import ResponseStream

__all__ = ["RELAY_PATHS", "FailoverRelay", "RelayProvider", "check_relay_path", "relay_capable"]

_log = logging.getLogger("acytoo.providers.retry")

RELAY_PATHS = frozenset({"/chat/completions", "/embeddings"})
"""The OpenAI endpoints (relative to the base URL) a relay may be opened on."""


class RelayProvider(Protocol):
    """A provider that relays raw OpenAI-protocol requests (``supports_relay`` is true)."""

    supports_relay: bool

    def open_relay(
        self, path: str, body: bytes, proxy: str | None = None, **kwargs: Any
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """POST ``body`` (JSON bytes, sent unchanged) to ``path`` under the base URL.

        Entering the context waits for the first chunk of a 2xx answer;
        failures up to then raise (and may be retried or failed over),
        nothing after it is. ``kwargs`` are the provider's usual options
        (``api_key``, ``base_url``, ``timeout``...).
        """
        ...


def relay_capable(provider: object) -> RelayProvider | None:
    """``provider`` when it declares the relay capability, else ``None``."""
    if getattr(provider, "supports_relay", False) and callable(
        getattr(provider, "open_relay", None)
    ):
        return provider  # type: ignore[return-value]
    return None


def check_relay_path(path: str) -> str:
    """``path`` when a relay may be opened on it, else :class:`InvalidRequestError`."""
    if path not in RELAY_PATHS:
        raise InvalidRequestError(
            f"cannot relay to {path!r}; relayed paths: {', '.join(sorted(RELAY_PATHS))}"
        )
    return path


class FailoverRelay(AbstractAsyncContextManager["ResponseStream"]):
    """Open the relay on each provider in turn until one starts answering.

    The same rule as :class:`~acytoo.RetryProvider`'s: a failure before the
    first byte moves on to the next provider; once a response has started,
    it is the answer. Invalid arguments are raised at once.
    """

    __slots__ = ("_args", "_entered", "_providers")

    def __init__(
        self,
        providers: Sequence[RelayProvider],
        path: str,
        body: bytes,
        proxy: str | None,
        options: dict[str, Any],
    ) -> None:
        self._providers = providers
        self._args = (path, body, proxy, options)
        self._entered: AbstractAsyncContextManager[ResponseStream] | None = None

    async def __aenter__(self) -> ResponseStream:
        path, body, proxy, options = self._args
        failures: list[tuple[str, BaseException]] = []
        for provider in self._providers:
            try:
                relay = provider.open_relay(path, body, proxy, **options)
                response = await relay.__aenter__()
            except InvalidRequestError:
                raise
            except Exception as exc:
                failures.append((provider_name(provider), exc))
                _log.info(
                    "%s failed before answering (%s); trying the next provider",
                    provider_name(provider),
                    type(exc).__name__,
                )
                continue
            self._entered = relay
            return response
        raise AllProvidersFailedError(failures) from failures[-1][1]

    async def __aexit__(self, *exc_info: Any) -> None:
        relay, self._entered = self._entered, None
        if relay is not None:
            await relay.__aexit__(*exc_info)
