"""The where-to-send flags that ``acytoo chat`` and ``acytoo models`` share.

:func:`where_options` declares them once and hands the command one
:class:`~acytoo.cli.config.Settings` (the flags as a source, ``None`` where
not given) instead of a parameter per flag.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

import click

from .config import PROVIDERS, Settings

__all__ = ["where_options"]

_R = TypeVar("_R")
_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

_SETTINGS = frozenset(field.name for field in fields(Settings))

# (flags, type, metavar, help in chat, help in models). `models` has shorter
# help texts than `chat`; both are kept as they were.
_OPTIONS: tuple[tuple[tuple[str, ...], Any, str | None, str, str], ...] = (
    (
        ("--url",),
        None,
        None,
        "Base URL of the service (also ACYTOO_URL).",
        "Base URL of the service (also ACYTOO_URL).",
    ),
    (
        ("--provider",),
        click.Choice(PROVIDERS, case_sensitive=False),
        None,
        "Protocol: acytoo, openai (OpenAI-compatible, e.g. Ollama) or local (offline).",
        "Protocol: acytoo, openai or local.",
    ),
    (
        ("--proxy",),
        None,
        None,
        "Proxy URL: http://, socks5://, socks4:// (also ACYTOO_PROXY).",
        "Proxy URL (also ACYTOO_PROXY).",
    ),
    (
        ("--timeout",),
        click.FloatRange(min=0, min_open=True),
        None,
        "Seconds to wait for the connection and between chunks.",
        "Seconds.",
    ),
    (
        ("--key",),
        None,
        None,
        "API key for the service (prefer ACYTOO_KEY: flags show in ps).",
        "API key (prefer ACYTOO_KEY).",
    ),
    (
        ("--password",),
        None,
        None,
        "Password of a protected acytoo server (or ACYTOO_PASSWORD); with an "
        "OpenAI-compatible URL and no --key it is sent as the Bearer key.",
        "Password of a protected acytoo server (or ACYTOO_PASSWORD).",
    ),
)
_MAX_RETRIES: tuple[tuple[str, ...], Any, str | None, str, str] = (
    ("--max-retries",),
    click.IntRange(min=0),
    "N",
    "Retries of a failure before the first byte (default 2; 0: none). Worst case "
    "before giving up: (N+1) x --timeout, plus waits of 0.5 s, 1 s, 2 s, ... between tries.",
    "Retries (default 2).",
)


def where_options(
    *, detailed: bool, before_retries: Sequence[_Decorator] = ()
) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """Add ``--url``, ``--provider``, ``--proxy``, ``--timeout``, ``--key``,
    ``--password`` and ``--max-retries`` to a command.

    The command receives ``settings`` (a :class:`Settings` of every flag that
    is one of its fields, including the command's own ``--model``, ``--system``
    or ``--temperature``) and ``max_retries``. ``detailed`` picks the long help
    texts; ``before_retries`` are the command's own options listed in its help
    just before ``--max-retries``.
    """

    def decorate(command: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(command)
        def with_settings(*args: Any, **kwargs: Any) -> _R:
            values = {name: kwargs.pop(name) for name in list(kwargs) if name in _SETTINGS}
            return command(*args, settings=Settings(**values), **kwargs)

        decorators: list[_Decorator] = [_option(spec, detailed) for spec in _OPTIONS]
        decorators += [*before_retries, _option(_MAX_RETRIES, detailed)]
        decorated: Callable[..., _R] = with_settings
        # click lists options in the order their decorators are written, i.e. applied last first.
        for decorator in reversed(decorators):
            decorated = decorator(decorated)
        return decorated

    return decorate


def _option(spec: tuple[tuple[str, ...], Any, str | None, str, str], detailed: bool) -> _Decorator:
    names, type_, metavar, long_help, short_help = spec
    return click.option(
        *names, type=type_, metavar=metavar, help=long_help if detailed else short_help
    )
