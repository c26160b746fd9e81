"""From a resolved :class:`~acytoo.cli.config.Target` to a provider call.

The command line never speaks HTTP itself: it picks a provider of the
library and hands it the options. Each provider module is imported only
here, when it is used, so the offline assistant never imports aiohttp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..providers.base import ProviderType
from ..providers.registry import get_kind
from .config import Target

__all__ = ["ProviderCall", "provider_call"]


@dataclass(frozen=True)
class ProviderCall:
    """A provider with the options of every call; ``kwargs`` may hold secrets."""

    provider: ProviderType
    name: str
    """``acytoo``, ``openai`` or ``local``."""
    url: str | None
    default_model: str
    proxy: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict, repr=False)

    def model(self, requested: str | None) -> str:
        """``requested``, else this provider's default model."""
        return requested or self.default_model


def provider_call(target: Target) -> ProviderCall:
    """The provider and options that reach ``target``."""
    kind = get_kind(target.provider)
    provider = kind.load()
    kwargs = kind.call_options(
        url=target.url, key=target.key, password=target.password, temperature=target.temperature
    )
    if not kind.needs_url:
        return ProviderCall(provider, kind.name, None, provider.default_model, None, kwargs)
    if target.timeout is not None:
        kwargs["timeout"] = target.timeout
    # A key from the environment that the provider reads on its own is sent only
    # where the library's one rule allows it (providers/_env_keys.py).
    return ProviderCall(
        provider, kind.name, target.url, provider.default_model, target.proxy, kwargs
    )
