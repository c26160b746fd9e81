"""Where the command line sends: flags, then environment, then the config file, then offline.

Each setting is taken from the first place that has it:

1. command-line flags (``--url``, ``--provider``, ``--key``, ...);
2. environment variables: ``ACYTOO_URL``, ``ACYTOO_PROVIDER``, ``ACYTOO_MODEL``,
   ``ACYTOO_KEY``, ``ACYTOO_PASSWORD``, ``ACYTOO_PROXY``;
3. the config file, ``$XDG_CONFIG_HOME/acytoo/config.toml``
   (``~/.config/acytoo/config.toml``; ``ACYTOO_CONFIG`` names another file);
4. nothing configured: the built-in offline assistant (``local``), and the
   command says so once on stderr.

Config file keys (all optional)::

    provider = "openai"            # acytoo | openai | local
    url = "http://localhost:11434/v1"
    model = "llama3.2"
    system = "Answer briefly."
    temperature = 0.7
    timeout = 60                   # seconds (connect and idle)
    proxy = "socks5://127.0.0.1:1080"
    key = "sk-..."                 # the service's API key
    password = "..."               # a password-protected acytoo server

Nothing is sent anywhere the user did not name: ``acytoo`` and ``openai``
need a URL (there is no built-in remote default).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from ..providers.registry import get_kind, guess_kind, kind_names

__all__ = [
    "PROVIDERS",
    "ConfigError",
    "Settings",
    "Target",
    "config_path",
    "load_config_file",
    "resolve",
]

PROVIDERS = kind_names()
"""The provider kinds ``--provider`` and ``provider =`` accept (the registry's)."""

_KEYS: dict[str, type | tuple[type, ...]] = {
    "provider": str,
    "url": str,
    "model": str,
    "system": str,
    "temperature": (int, float),
    "timeout": (int, float),
    "proxy": str,
    "key": str,
    "password": str,
}
_ENVIRONMENT = {
    "url": "ACYTOO_URL",
    "provider": "ACYTOO_PROVIDER",
    "model": "ACYTOO_MODEL",
    "key": "ACYTOO_KEY",
    "password": "ACYTOO_PASSWORD",
    "proxy": "ACYTOO_PROXY",
}


class ConfigError(Exception):
    """A setting is invalid; the message is one line meant for the user."""


@dataclass(frozen=True)
class Settings:
    """Where to send and how: from one source, or resolved from all of them.

    From one source (flags, environment, config file) ``None`` means "not set
    here"; :func:`resolve` merges the sources into a :class:`Target`, the same
    fields with the provider decided. ``key`` and ``password`` are secrets:
    never print, log or store them.
    """

    provider: str | None = None
    url: str | None = None
    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    timeout: float | None = None
    proxy: str | None = None
    key: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # keep secrets out of debug output
        url = self.url
        for secret in self.secrets:
            url = url.replace(secret, "***") if url else url
        return (
            f"{type(self).__name__}(provider={self.provider!r}, url={url!r}, model={self.model!r})"
        )

    @property
    def secrets(self) -> list[str]:
        """Values that must never be shown: key, password, passwords inside URLs."""
        values = [self.key, self.password]
        for url in (self.proxy, self.url):
            if url:
                values.append(urlsplit(url).password)
        return [value for value in values if value]


@dataclass(frozen=True, repr=False)
class Target(Settings):
    """:class:`Settings` resolved: the provider is decided and every value validated."""

    provider: str = "local"
    fallback: bool = False
    """True when nothing was configured and the offline assistant answers."""


def config_path() -> Path:
    """``$ACYTOO_CONFIG``, else ``$XDG_CONFIG_HOME/acytoo/config.toml``."""
    override = os.environ.get("ACYTOO_CONFIG")
    if override:
        return Path(override).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "acytoo" / "config.toml"


def load_config_file(path: Path | None = None) -> Settings:
    """The settings in the config file (empty when it does not exist)."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = parse_toml(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return _settings_from_mapping(data, str(path))


def parse_toml(text: str) -> dict[str, Any]:
    """The TOML document ``text``: the standard library's tomllib, or tomli before 3.11."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib  # the same parser, as a conditional dependency

    return tomllib.loads(text)


def _settings_from_mapping(data: Mapping[str, Any], where: str) -> Settings:
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}"
        )
    values: dict[str, Any] = {}
    for name in data:
        value: Any = data[name]
        expected = _KEYS[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            kind = "a string" if expected is str else "a number"
            raise ConfigError(f"{where}: {name} must be {kind}")
        values[name] = value if expected is str else float(cast(float, value))
    return Settings(**values)


def _environment_settings() -> Settings:
    values: dict[str, Any] = {
        name: os.environ.get(variable) or None for name, variable in _ENVIRONMENT.items()
    }
    return Settings(**values)


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def resolve(flags: Settings, *, environ: bool = True, config_file: bool = True) -> Target:
    """Merge the sources (flags first) into a :class:`Target`, validating it.

    Raises :class:`ConfigError` with a one-line message.
    """
    sources = [flags]
    if environ:
        sources.append(_environment_settings())
    if config_file:
        sources.append(load_config_file())

    def pick(name: str) -> Any:
        return _first(*(getattr(source, name) for source in sources))

    provider: str | None = pick("provider")
    url: str | None = pick("url")
    fallback = False
    if provider is not None:
        provider = provider.strip().lower()
        if provider not in kind_names():
            raise ConfigError(
                f"unknown provider {provider!r}; choose one of {', '.join(kind_names())}"
            )
    if provider is None:
        if url is None:
            provider, fallback = "local", True
        else:
            provider = guess_provider(url)
    if not get_kind(provider).needs_url:
        url = None
    elif url is None:
        raise ConfigError(
            f"provider {provider!r} needs a URL: pass --url, set ACYTOO_URL or "
            f"url in {config_path()}"
        )
    else:
        url = validate_url(url)
    temperature = pick("temperature")
    if temperature is not None:
        validate_temperature(temperature)
    timeout = pick("timeout")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"timeout must be a positive number of seconds, not {timeout}")
    proxy = pick("proxy")
    if proxy is not None:
        validate_url(proxy, "proxy", ("http", "https", "socks4", "socks4a", "socks5", "socks5h"))
    merged = {field.name: pick(field.name) for field in fields(Settings)}
    merged.update(provider=provider, url=url, model=merged["model"] or None)
    return Target(**merged, fallback=fallback)


def guess_provider(url: str) -> str:
    """``openai`` for a URL whose path ends in ``/v1`` (Ollama, vLLM, ...), else ``acytoo``."""
    return guess_kind(url).name


def validate_url(url: str, what: str = "url", schemes: tuple[str, ...] = ("http", "https")) -> str:
    """``url`` if it is absolute with an accepted scheme and a host, else :class:`ConfigError`."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        # urlsplit quotes the "port", which is the password in http://user:pw/x@host.
        reason = "not a valid URL" if "@" in url else str(exc)
        raise ConfigError(f"invalid {what} {_shown(url)!r}: {reason}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ConfigError(
            f"invalid {what} {_shown(url)!r}: expected {'/'.join(schemes)}://host[:port][/path]"
        )
    return url.strip()


def _shown(url: str) -> str:
    """``url`` fit for an error message: without the user name and password it may hold."""
    from .._urls import redact_url  # only on the error path: yarl is not needed otherwise

    return redact_url(url.strip())


def validate_temperature(value: float) -> float:
    """``value`` if it is within [0, 2] (the library's rule), else :class:`ConfigError`."""
    # Imported here to keep this edit inside the function (the module's imports are
    # being reworked on another branch); both modules are light.
    from .._base_errors import InvalidRequestError
    from .._validation import check_temperature

    try:
        return check_temperature(value)
    except InvalidRequestError as exc:
        raise ConfigError(str(exc)) from None
