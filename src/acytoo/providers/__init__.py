"""Providers: every backend behind the same contract."""

from .acytoo import Acytoo
from .base import AsyncGeneratorProvider, ProviderType, provider_name

__all__ = ["Acytoo", "AsyncGeneratorProvider", "ProviderType", "provider_name"]
