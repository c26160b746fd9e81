"""What the server serves: a provider, and how to call it.

The protocol handlers only ever see a :class:`Backend`: a provider behind
the common contract plus the few facts needed to call it (which keyword
carries an upstream API key, which model to use by default). Building one
from command-line settings happens here and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._base_errors import InvalidRequestError
from ..providers._relay import RelayProvider, relay_capable
from ..providers.base import ProviderType, provider_name
from ..providers.registry import LOCAL_MODEL, ProviderKind, get_kind, kind_names

__all__ = ["BACKEND_KINDS", "LOCAL_MODEL", "Backend", "build_backend"]

BACKEND_KINDS = kind_names()
"""The registered backend kinds (:mod:`acytoo.providers.registry`)."""
DEFAULT_MODEL = "gpt-3.5-turbo"


@dataclass(frozen=True)
class Backend:
    """A provider and how the server calls it.

    ``key_option`` names the keyword argument that carries an upstream API
    key (``None``: the provider takes none, client keys are ignored).
    ``reported_model``, when set, is the model id every answer is labelled
    with: the offline assistant has one model, so a client asking for
    ``gpt-3.5-turbo`` still gets an answer (the provider is told what was
    asked for and says who is answering), labelled ``acytoo-docs-offline``.
    """

    provider: ProviderType
    default_model: str = DEFAULT_MODEL
    reported_model: str | None = None
    key_option: str | None = None
    forwards_temperature: bool = True
    forwards_max_tokens: bool = False
    password_option: str | None = None
    """The keyword argument carrying the server's upstream password (``None``: it takes none)."""
    probe_urls: tuple[str, ...] = ()
    """Upstream URLs ``/readyz`` checks can be reached (none: always ready)."""

    @property
    def name(self) -> str:
        return provider_name(self.provider)

    @functools.cached_property
    def relay(self) -> RelayProvider | None:
        """The provider, when it relays raw OpenAI requests (then ``/v1`` passes
        requests through); ``None`` for a backend that carries text only."""
        return relay_capable(self.provider)

    def call_options(
        self,
        key: str | None,
        temperature: float | None,
        max_tokens: int | None = None,
        upstream_password: str | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for one call of the provider (what it cannot take is left out).

        The password is the server's own for its upstream; a client's password
        (its access to this server) is never an argument here.
        """
        options: dict[str, Any] = {}
        if key and self.key_option is not None:
            options[self.key_option] = key
        if upstream_password and self.password_option is not None:
            options[self.password_option] = upstream_password
        if temperature is not None and self.forwards_temperature:
            options["temperature"] = temperature
        if max_tokens is not None and self.forwards_max_tokens:
            options["max_tokens"] = max_tokens
        return options


def build_backend(
    kind: str = "local",
    urls: Sequence[str] = (),
    *,
    shuffle: bool = False,
    max_retries: int | None = None,
) -> Backend:
    """The backend for ``acytoo serve --backend KIND --upstream-url URL...``.

    Several URLs become a failover list (:class:`~acytoo.RetryProvider`):
    a failure before the first chunk moves on to the next upstream.
    """
    registered = get_kind(kind)
    if not registered.needs_url:
        if urls:
            raise InvalidRequestError(f"the {registered.name} backend takes no --upstream-url")
        return _backend(registered, registered.load())
    if not urls:
        raise InvalidRequestError(f"the {registered.name} backend needs --upstream-url")
    from ..providers._http import parse_base_url

    for url in urls:
        # At start-up, not per request: a client must never be told about the
        # server's upstream URL (the message shows it without credentials).
        parse_base_url(url, "--upstream-url")
    extra: dict[str, Any] = {} if max_retries is None else {"max_retries": max_retries}
    provider_class = registered.load()
    providers: list[ProviderType] = []
    for index, url in enumerate(urls):
        name = f"{registered.name}[{index}]" if len(urls) > 1 else registered.name
        options = registered.call_options(url=url)
        providers.append(provider_class.configure(name, **options, **extra))
    if len(providers) == 1:
        return _backend(registered, providers[0], probe_urls=tuple(urls))
    from ..providers.retry import RetryProvider

    return _backend(registered, RetryProvider(providers, shuffle=shuffle), probe_urls=tuple(urls))


def _backend(
    kind: ProviderKind, provider: ProviderType, probe_urls: tuple[str, ...] = ()
) -> Backend:
    return Backend(
        provider,
        default_model=kind.reported_model or DEFAULT_MODEL,
        reported_model=kind.reported_model,
        key_option=kind.key_option,
        forwards_temperature=kind.forwards_temperature,
        forwards_max_tokens=kind.forwards_max_tokens,
        password_option=kind.password_option,
        probe_urls=probe_urls,
    )
