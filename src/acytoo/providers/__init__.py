"""Providers: every backend behind the same contract.

Each provider is imported on first use, so using only the offline ``Local``
provider never imports aiohttp. A provider becomes a backend of the CLI and
the server with one :func:`~acytoo.providers.registry.register` line in
:mod:`acytoo.providers.registry`; to export its class here too, add its name
to ``_LOCATIONS`` and to the ``TYPE_CHECKING`` block.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    from .acytoo import Acytoo
    from .base import AsyncGeneratorProvider, ProviderType, provider_name
    from .local import Local
    from .openai_compatible import OpenAICompatible
    from .retry import RetryProvider

_LOCATIONS = {
    "Acytoo": ".acytoo",
    "AsyncGeneratorProvider": ".base",
    "Local": ".local",
    "OpenAICompatible": ".openai_compatible",
    "ProviderType": ".base",
    "RetryProvider": ".retry",
    "provider_name": ".base",
}

__all__ = [
    "Acytoo",
    "AsyncGeneratorProvider",
    "Local",
    "OpenAICompatible",
    "ProviderType",
    "RetryProvider",
    "provider_name",
]

__getattr__ = lazy_getattr(__name__, _LOCATIONS)
