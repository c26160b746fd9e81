"""The backend kinds: one registration per provider the CLI and the server can use.

``acytoo chat --provider KIND``, ``acytoo serve --backend KIND`` and the config
file's ``provider = "KIND"`` all read this one table. A kind says which
provider answers (imported only when used, so the offline assistant never
loads aiohttp) and how the generic settings (URL, key, password, temperature,
``max_tokens``) become that provider's keyword arguments. Adding a backend is
its provider module plus one :func:`register` line at the end of this module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._base_errors import InvalidRequestError

if TYPE_CHECKING:
    from .base import AsyncGeneratorProvider

__all__ = [
    "LOCAL_MODEL",
    "ProviderKind",
    "get_kind",
    "guess_kind",
    "kind_names",
    "kinds_help",
    "register",
]

LOCAL_MODEL = "acytoo-docs-offline"
"""The one model id the offline assistant answers as."""


@dataclass(frozen=True)
class ProviderKind:
    """A backend kind: its provider and how generic settings reach it.

    ``url_option``, ``key_option`` and ``password_option`` name the provider's
    keyword arguments for a base URL, an API key and a server password
    (``None``: it takes none). ``reported_model``, when set, is the model id
    every answer is labelled with (the offline assistant has one model).
    ``url_suffix`` marks URLs that are most likely this kind (``/v1``: an
    OpenAI-compatible API) when the user gives a URL but no kind.
    """

    name: str
    summary: str
    provider_path: str
    """``module:attribute`` of the provider, imported on first use."""
    url_option: str | None = None
    key_option: str | None = None
    password_option: str | None = None
    forwards_temperature: bool = True
    forwards_max_tokens: bool = False
    reported_model: str | None = None
    url_suffix: str | None = None
    password_as_key: bool = False
    """Send a password as the API key when no key is given (an acytoo server's
    ``/v1`` takes its password as the Bearer key)."""

    @property
    def needs_url(self) -> bool:
        """Whether this kind only works with a base URL (there is no remote default)."""
        return self.url_option is not None

    def load(self) -> type[AsyncGeneratorProvider]:
        """The provider class (imports its module now)."""
        module_name, _, attribute = self.provider_path.partition(":")
        provider: type[AsyncGeneratorProvider] = getattr(
            importlib.import_module(module_name), attribute
        )
        return provider

    def call_options(
        self,
        *,
        url: str | None = None,
        key: str | None = None,
        password: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> dict[str, Any]:
        """The provider's keyword arguments for these settings; what it cannot take is left out."""
        options: dict[str, Any] = {}
        if self.password_as_key and not key:
            key = password
        for option, value in (
            (self.url_option, url),
            (self.key_option, key),
            (self.password_option, password),
        ):
            if option is not None and value:
                options[option] = value
        if temperature is not None and self.forwards_temperature:
            options["temperature"] = temperature
        if max_tokens is not None and self.forwards_max_tokens:
            options["max_tokens"] = max_tokens
        return options


_KINDS: dict[str, ProviderKind] = {}


def register(kind: ProviderKind) -> ProviderKind:
    """Add ``kind`` to the table (a later registration of the same name replaces it)."""
    _KINDS[kind.name] = kind
    return kind


def kind_names() -> tuple[str, ...]:
    """The registered kind names, in registration order."""
    return tuple(_KINDS)


def get_kind(name: str) -> ProviderKind:
    """The kind called ``name`` (case-insensitive), or :class:`InvalidRequestError`."""
    kind = _KINDS.get(name.strip().lower())
    if kind is None:
        raise InvalidRequestError(f"unknown backend {name!r}; choose one of {', '.join(_KINDS)}")
    return kind


def guess_kind(url: str) -> ProviderKind:
    """The kind whose ``url_suffix`` ends the path of ``url``, else ``acytoo``."""
    path = urlsplit(url).path.rstrip("/")
    for kind in _KINDS.values():
        if kind.url_suffix and path.endswith(kind.url_suffix):
            return kind
    return _KINDS["acytoo"]


def kinds_help() -> str:
    """One line describing every kind, for ``--help``: ``local: ...; openai: ...``."""
    return "; ".join(f"{name}: {kind.summary}" for name, kind in _KINDS.items())


register(
    ProviderKind(
        "local",
        "the offline documentation assistant",
        "acytoo.providers.local:Local",
        reported_model=LOCAL_MODEL,
    )
)
register(
    ProviderKind(
        "openai",
        "an OpenAI-compatible API (OpenAI, Ollama, vLLM, llama.cpp)",
        "acytoo.providers.openai_compatible:OpenAICompatible",
        url_option="base_url",
        key_option="api_key",
        forwards_max_tokens=True,
        url_suffix="/v1",
        password_as_key=True,
    )
)
register(
    ProviderKind(
        "acytoo",
        "an Acytoo-protocol server (another acytoo serve)",
        "acytoo.providers.acytoo:Acytoo",
        url_option="url",
        key_option="key",
        password_option="password",
    )
)
