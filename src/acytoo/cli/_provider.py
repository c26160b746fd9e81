"""From a resolved :class:`~acytoo.cli.config.Target` to a provider call.

The command line never speaks HTTP itself: it picks a provider of the
library and hands it the options. Each provider module is imported only
here, when it is used, so the offline assistant never imports aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..providers.base import ProviderType
from ..providers.registry import get_kind
from .config import Target

__all__ = ["ProviderCall", "provider_call", "with_options"]

# Options that say where to send, or hold secrets: they have their own flags,
# which also keep them out of the history and the process list.
_FLAG_ONLY = frozenset({"url", "base_url", "key", "api_key", "password", "proxy", "session"})


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


def with_options(
    call: ProviderCall,
    options: Sequence[tuple[str, str]] = (),
    *,
    max_tokens: int | None = None,
    max_retries: int | None = None,
) -> ProviderCall:
    """``call`` with ``-o NAME VALUE`` options, ``--max-tokens`` and ``--max-retries`` added.

    The provider validates them (an unknown option is its clear error); only
    the options that have a flag of their own are refused here.
    """
    import click

    extra: dict[str, Any] = {}
    for name, value in options:
        if name in _FLAG_ONLY:
            flag = {"base_url": "url", "api_key": "key"}.get(name, name)
            raise click.UsageError(f"-o {name}: use --{flag} instead")
        extra[name] = _option_value(value)
    if max_tokens is not None:
        if not get_kind(call.name).forwards_max_tokens:
            raise click.UsageError(
                "--max-tokens needs an OpenAI-compatible service (--provider openai): "
                f"the {call.name} protocol has no token limit"
            )
        extra["max_tokens"] = max_tokens
    if max_retries is not None:
        extra["max_retries"] = max_retries
    if not extra:
        return call
    return replace(call, kwargs={**call.kwargs, **extra})


def _option_value(text: str) -> Any:
    """``text`` as JSON when it is a JSON number, boolean, null, list or object, else itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(value, str) else value
