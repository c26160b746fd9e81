"""From a resolved :class:`~acytoo.cli.config.Target` to a provider call.

The command line never speaks HTTP itself: it picks a provider of the
library and hands it the options. Each provider module is imported only
here, when it is used, so the offline assistant never imports aiohttp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..providers.base import ProviderType
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
    kwargs: dict[str, Any] = {}
    if target.temperature is not None:
        kwargs["temperature"] = target.temperature
    if target.provider == "local":
        from ..providers.local import Local

        return ProviderCall(Local, "local", None, Local.default_model, None, kwargs)
    if target.timeout is not None:
        kwargs["timeout"] = target.timeout
    if target.provider == "openai":
        from ..providers.openai_compatible import OpenAICompatible

        kwargs["base_url"] = target.url
        if target.key:
            kwargs["api_key"] = target.key
        # Else the library's one rule decides (providers/_env_keys.py):
        # OPENAI_API_KEY goes only to OpenAI or to OPENAI_BASE_URL's origin.
        return ProviderCall(
            OpenAICompatible,
            "openai",
            target.url,
            OpenAICompatible.default_model,
            target.proxy,
            kwargs,
        )
    from ..providers.acytoo import Acytoo

    kwargs["url"] = target.url
    if target.key:
        kwargs["key"] = target.key
    if target.password:
        kwargs["password"] = target.password
    return ProviderCall(Acytoo, "acytoo", target.url, Acytoo.default_model, target.proxy, kwargs)
