"""What the server serves: a provider, and how to call it.

The protocol handlers only ever see a :class:`Backend`: a provider behind
the common contract plus the few facts needed to call it (which keyword
carries an upstream API key, which model to use by default). Building one
from command-line settings happens here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._base_errors import InvalidRequestError
from ..providers.base import ProviderType, provider_name

__all__ = ["BACKEND_KINDS", "LOCAL_MODEL", "Backend", "build_backend"]

BACKEND_KINDS = ("local", "openai", "acytoo")
LOCAL_MODEL = "acytoo-docs-offline"
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
    probe_urls: tuple[str, ...] = ()
    """Upstream URLs ``/readyz`` checks can be reached (none: always ready)."""

    @property
    def name(self) -> str:
        return provider_name(self.provider)

    def call_options(
        self, key: str | None, temperature: float | None, max_tokens: int | None = None
    ) -> dict[str, Any]:
        """Keyword arguments for one call of the provider (what it cannot take is left out)."""
        options: dict[str, Any] = {}
        if key and self.key_option is not None:
            options[self.key_option] = key
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
    if kind == "local":
        if urls:
            raise InvalidRequestError("the local backend takes no --upstream-url")
        from ..providers.local import Local

        return Backend(Local, default_model=LOCAL_MODEL, reported_model=LOCAL_MODEL)
    if kind not in BACKEND_KINDS:
        raise InvalidRequestError(
            f"unknown backend {kind!r}; choose one of {', '.join(BACKEND_KINDS)}"
        )
    if not urls:
        raise InvalidRequestError(f"the {kind} backend needs --upstream-url")
    extra: dict[str, Any] = {} if max_retries is None else {"max_retries": max_retries}
    # Imported here: the local backend must not import aiohttp's client side.
    from ..providers.acytoo import Acytoo
    from ..providers.openai_compatible import OpenAICompatible
    from ..providers.retry import RetryProvider

    providers: list[ProviderType] = []
    for index, url in enumerate(urls):
        name = f"{kind}[{index}]" if len(urls) > 1 else kind
        if kind == "openai":
            providers.append(OpenAICompatible.configure(name, base_url=url, **extra))
        else:
            providers.append(Acytoo.configure(name, url=url, **extra))
    provider = providers[0] if len(providers) == 1 else RetryProvider(providers, shuffle=shuffle)
    if kind == "openai":
        return Backend(
            provider, key_option="api_key", forwards_max_tokens=True, probe_urls=tuple(urls)
        )
    return Backend(provider, key_option="key", probe_urls=tuple(urls))
