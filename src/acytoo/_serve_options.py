"""The server's command-line options, described once.

``acytoo serve`` (click, :mod:`acytoo.cli.serve`) and ``python -m acytoo.server``
(argparse, :mod:`acytoo.server.__main__`) both build their parser from
:data:`SERVE_OPTIONS` and turn the parsed values into a
:class:`~acytoo.server.ServerConfig` with :func:`config_from_options`, so the
two front ends accept the same flags, defaults and environment variables
without the list being written twice (and the server never imports the CLI).

This module imports neither click nor aiohttp: the CLI reads the table at
import time and must stay light; the server loads only when a config is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .providers.registry import kind_names, kinds_help

if TYPE_CHECKING:
    from .server import ServerConfig

__all__ = [
    "SERVE_OPTIONS",
    "OptionError",
    "ServeOption",
    "config_from_options",
    "parse_alias",
    "parse_size",
]

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024}
_SIZE_UNITS.update({"m": 1024 * 1024, "mb": 1000 * 1000, "mib": 1024 * 1024})


def parse_size(value: str) -> int:
    """``1048576``, ``512KiB`` or ``1MiB`` as a number of bytes (``ValueError`` otherwise)."""
    match = _SIZE.match(value)
    if match is None or int(match[1]) < 1:
        raise ValueError(f"{value!r} is not a size such as 1048576, 512KiB or 1MiB")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "").lower()]


def parse_alias(value: str) -> tuple[str, str]:
    """``NAME=MODEL`` as ``(name, model)`` (``ValueError`` otherwise)."""
    name, sep, model = value.partition("=")
    if not sep or not name.strip() or not model.strip():
        raise ValueError(f"{value!r} is not NAME=MODEL")
    return name.strip(), model.strip()


@dataclass(frozen=True)
class ServeOption:
    """One option of ``acytoo serve``, independent of the parser library.

    ``kind`` is the value's type; a ``flag`` is ``True`` when given (``off``
    names its negative form, if it has one). ``multiple`` options repeat, and
    their environment variable holds space-separated values. ``parse`` turns
    one given string into the value, raising ``ValueError`` with the message
    the user sees. Numbers are checked against ``minimum`` / ``maximum``.
    """

    name: str
    help: str
    default: Any = None
    kind: Literal["text", "int", "float", "flag"] = "text"
    off: str | None = None
    multiple: bool = False
    env: str | None = None
    choices: tuple[str, ...] = ()
    case_sensitive: bool = True
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None

    @property
    def dest(self) -> str:
        """The keyword the value is passed as: ``--max-body`` -> ``max_body``."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def show_default(self) -> bool:
        return self.default is not None and self.default is not False


SERVE_OPTIONS: tuple[ServeOption, ...] = (
    ServeOption("--host", "Address to listen on.", default="127.0.0.1"),
    ServeOption(
        "--port", "Port (0: any free port).", default=8000, kind="int", minimum=0, maximum=65535
    ),
    ServeOption(
        "--backend",
        kinds_help() + ".",
        default="local",
        env="ACYTOO_SERVER_BACKEND",
        choices=kind_names(),
        case_sensitive=False,
    ),
    ServeOption(
        "--upstream-url",
        "Base URL of the upstream (e.g. http://127.0.0.1:11434/v1). Repeat for failover: "
        "a failure before the first text moves on to the next. [env: ACYTOO_UPSTREAM_URL, "
        "space-separated]",
        multiple=True,
        env="ACYTOO_UPSTREAM_URL",
    ),
    ServeOption(
        "--upstream-key",
        "The server's own upstream API key; repeat to rotate among several. Prefer the "
        "environment variable: the command line is visible to other users. "
        "[env: ACYTOO_UPSTREAM_KEY, space-separated]",
        multiple=True,
        env="ACYTOO_UPSTREAM_KEY",
    ),
    ServeOption(
        "--upstream-password",
        "Password of a password-protected upstream Acytoo server (--backend acytoo). "
        "Clients' own passwords are never sent upstream. [env: ACYTOO_UPSTREAM_PASSWORD]",
        env="ACYTOO_UPSTREAM_PASSWORD",
    ),
    ServeOption(
        "--key-selection",
        "How to choose among several upstream keys.",
        default="round-robin",
        choices=("round-robin", "random"),
    ),
    ServeOption(
        "--shuffle",
        "Try failover upstreams in random order instead of as given.",
        default=False,
        kind="flag",
        off="--no-shuffle",
    ),
    ServeOption(
        "--model-default",
        "Model for requests that name none (default: gpt-3.5-turbo; the local backend "
        "always answers as acytoo-docs-offline).",
        env="ACYTOO_SERVER_MODEL",
    ),
    ServeOption(
        "--allow-model",
        "Accept only these models (repeatable); others get 400 'Not supported model X'.",
        multiple=True,
    ),
    ServeOption(
        "--model-alias",
        "Serve the upstream's MODEL under NAME (repeatable): requests for NAME go "
        "upstream as MODEL, answers say NAME.",
        multiple=True,
        metavar="NAME=MODEL",
        parse=parse_alias,
    ),
    ServeOption(
        "--password",
        "Require this password (the request's 'password' field; also accepted as a /v1 "
        "Bearer key). [env: ACYTOO_SERVER_PASSWORD]",
        env="ACYTOO_SERVER_PASSWORD",
    ),
    ServeOption(
        "--api-key",
        "Require one of these keys as 'Authorization: Bearer' on /v1 (also accepted as "
        "the password of /api/completions); repeatable. [env: ACYTOO_SERVER_API_KEY, "
        "space-separated]",
        multiple=True,
        env="ACYTOO_SERVER_API_KEY",
    ),
    ServeOption(
        "--allow-client-keys",
        "Use a request's own non-empty 'key' upstream instead of the server's keys.",
        default=True,
        kind="flag",
        off="--no-client-keys",
    ),
    ServeOption(
        "--max-body",
        "Largest request body (bytes, or with KiB/MiB); larger ones get 413.",
        default="1MiB",
        parse=parse_size,
    ),
    ServeOption(
        "--max-messages",
        "Most messages in one request; more get 400.",
        default=4096,
        kind="int",
        minimum=1,
    ),
    ServeOption(
        "--rate-limit",
        "Per-client limit such as '10/s', '600/min,burst=20' (off by default); "
        "over it: 429 with Retry-After.",
        metavar="RATE",
    ),
    ServeOption(
        "--grace-period",
        "Seconds to let answers in flight finish after SIGTERM.",
        default=10.0,
        kind="float",
        minimum=0,
    ),
    ServeOption(
        "--log-level",
        "Logging level (access log lines are info).",
        default="info",
        choices=("debug", "info", "warning", "error"),
        case_sensitive=False,
    ),
    ServeOption(
        "--upstream-connections",
        "Most upstream connections at once (each stream in flight holds one; 0: no limit).",
        default=1024,
        kind="int",
        minimum=0,
    ),
    ServeOption(
        "--allow-origin",
        "Let web pages from this origin (scheme://host[:port]; '*' for any) use the "
        "server, with CORS; repeatable. Pages from other origins get 403.",
        multiple=True,
        metavar="ORIGIN",
    ),
    ServeOption(
        "--allowed-host",
        "Also answer requests for this host name (the Host header); repeatable. Bound "
        "to loopback, only localhost, 127.0.0.1 and [::1] are answered otherwise (421).",
        multiple=True,
        metavar="NAME",
    ),
    ServeOption(
        "--header-timeout",
        "Seconds a connection may take to send a request's headers (idle ones included).",
        default=20.0,
        kind="float",
        minimum=0,
        min_open=True,
    ),
    ServeOption(
        "--body-timeout",
        "Seconds a request body may stall before the request gets 408.",
        default=20.0,
        kind="float",
        minimum=0,
        min_open=True,
    ),
    ServeOption(
        "--max-connections",
        "Most client connections at once (default: half of the open-files limit).",
        kind="int",
        minimum=1,
    ),
    ServeOption("--no-access-log", "Do not log one line per request.", default=False, kind="flag"),
    ServeOption(
        "--web",
        "Serve the chat page at / (--no-web: the API alone).",
        default=True,
        kind="flag",
        off="--no-web",
    ),
    ServeOption(
        "--log-format",
        "json: one JSON object per line (ts, level, worker, request_id, method, path, "
        "status, duration_ms, ttfb_ms).",
        default="text",
        choices=("text", "json"),
    ),
    ServeOption(
        "--workers",
        "Worker processes serving the port (auto: one per CPU), restarted if they crash.",
        default="1",
        metavar="N|auto",
    ),
    ServeOption(
        "--redis-url",
        "Keep rate limits, failed-password counts and key rotation in this Redis, shared by "
        "every worker and instance. [env: ACYTOO_REDIS_URL]",
        env="ACYTOO_REDIS_URL",
    ),
    ServeOption(
        "--redis-required",
        "Answer 503 while Redis is unreachable (default: fall back to per-process limits).",
        default=False,
        kind="flag",
    ),
    ServeOption(
        "--ipv6-prefix",
        "Rate-limit IPv6 clients by their network of this prefix length.",
        default=64,
        kind="int",
        minimum=0,
        maximum=128,
    ),
    ServeOption(
        "--metrics-public",
        "Serve /metrics without the password or API key.",
        default=False,
        kind="flag",
    ),
)


class OptionError(ValueError):
    """A value the parser accepted but the server cannot use; ``option`` names the flag."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def config_from_options(values: Mapping[str, Any]) -> ServerConfig:
    """The :class:`ServerConfig` for parsed option values (keyed by ``dest``).

    Raises :class:`OptionError` for a bad ``--workers`` or ``--rate-limit`` and
    :class:`~acytoo.InvalidRequestError` for settings that do not fit together.
    """
    from .server import ServerConfig, build_backend, parse_rate_limit
    from .server.workers import parse_workers

    try:
        worker_count = parse_workers(values["workers"])
    except ValueError as exc:
        raise OptionError("--workers", str(exc)) from None
    rate_limit = values["rate_limit"]
    try:
        limit = parse_rate_limit(rate_limit) if rate_limit else None
    except ValueError as exc:
        raise OptionError("--rate-limit", str(exc)) from None
    return ServerConfig(
        host=values["host"],
        port=values["port"],
        backend=build_backend(values["backend"], values["upstream_url"], shuffle=values["shuffle"]),
        upstream_keys=tuple(values["upstream_key"]),
        upstream_password=values["upstream_password"] or None,
        key_selection="random" if values["key_selection"] == "random" else "round-robin",
        allow_client_keys=values["allow_client_keys"],
        default_model=values["model_default"] or None,
        allowed_models=tuple(values["allow_model"]),
        model_aliases=tuple(values["model_alias"]),
        password=values["password"] or None,
        api_keys=tuple(key for key in values["api_key"] if key),
        max_body=values["max_body"],
        max_messages=values["max_messages"],
        rate_limit=limit,
        grace_period=values["grace_period"],
        access_log=not values["no_access_log"],
        upstream_connections=values["upstream_connections"],
        allow_origins=tuple(values["allow_origin"]),
        allowed_hosts=tuple(values["allowed_host"]),
        header_timeout=values["header_timeout"],
        body_timeout=values["body_timeout"],
        max_connections=values["max_connections"],
        web=values["web"],
        workers=worker_count,
        redis_url=values["redis_url"] or None,
        redis_required=values["redis_required"],
        ipv6_prefix=values["ipv6_prefix"],
        metrics_public=values["metrics_public"],
    )
