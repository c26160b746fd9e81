"""``acytoo serve``: run the server.

Only click is imported here; aiohttp and the server load when the command runs.
"""

from __future__ import annotations

import re

import click

from ..providers.registry import kind_names, kinds_help

__all__ = ["serve"]

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024}
_SIZE_UNITS.update({"m": 1024 * 1024, "mb": 1000 * 1000, "mib": 1024 * 1024})


def _parse_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    match = _SIZE.match(value)
    if match is None or int(match[1]) < 1:
        raise click.BadParameter(f"{value!r} is not a size such as 1048576, 512KiB or 1MiB")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "").lower()]


def _parse_aliases(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    aliases = []
    for value in values:
        name, sep, model = value.partition("=")
        if not sep or not name.strip() or not model.strip():
            raise click.BadParameter(f"{value!r} is not NAME=MODEL")
        aliases.append((name.strip(), model.strip()))
    return tuple(aliases)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port).",
)
@click.option(
    "--backend",
    type=click.Choice(kind_names(), case_sensitive=False),
    default="local",
    show_default=True,
    envvar="ACYTOO_SERVER_BACKEND",
    help=kinds_help() + ".",
)
@click.option(
    "--upstream-url",
    multiple=True,
    envvar="ACYTOO_UPSTREAM_URL",
    help="Base URL of the upstream (e.g. http://127.0.0.1:11434/v1). Repeat for failover: "
    "a failure before the first text moves on to the next. [env: ACYTOO_UPSTREAM_URL, "
    "space-separated]",
)
@click.option(
    "--upstream-key",
    multiple=True,
    envvar="ACYTOO_UPSTREAM_KEY",
    help="The server's own upstream API key; repeat to rotate among several. Prefer the "
    "environment variable: the command line is visible to other users. "
    "[env: ACYTOO_UPSTREAM_KEY, space-separated]",
)
@click.option(
    "--upstream-password",
    envvar="ACYTOO_UPSTREAM_PASSWORD",
    help="Password of a password-protected upstream Acytoo server (--backend acytoo). "
    "Clients' own passwords are never sent upstream. [env: ACYTOO_UPSTREAM_PASSWORD]",
)
@click.option(
    "--key-selection",
    type=click.Choice(["round-robin", "random"]),
    default="round-robin",
    show_default=True,
    help="How to choose among several upstream keys.",
)
@click.option(
    "--shuffle/--no-shuffle",
    default=False,
    help="Try failover upstreams in random order instead of as given.",
)
@click.option(
    "--model-default",
    envvar="ACYTOO_SERVER_MODEL",
    help="Model for requests that name none (default: gpt-3.5-turbo; the local backend "
    "always answers as acytoo-docs-offline).",
)
@click.option(
    "--allow-model",
    multiple=True,
    help="Accept only these models (repeatable); others get 400 'Not supported model X'.",
)
@click.option(
    "--model-alias",
    multiple=True,
    metavar="NAME=MODEL",
    callback=_parse_aliases,
    help="Serve the upstream's MODEL under NAME (repeatable): requests for NAME go "
    "upstream as MODEL, answers say NAME.",
)
@click.option(
    "--password",
    envvar="ACYTOO_SERVER_PASSWORD",
    help="Require this password (the request's 'password' field; also accepted as a /v1 "
    "Bearer key). [env: ACYTOO_SERVER_PASSWORD]",
)
@click.option(
    "--api-key",
    multiple=True,
    envvar="ACYTOO_SERVER_API_KEY",
    help="Require one of these keys as 'Authorization: Bearer' on /v1 (also accepted as "
    "the password of /api/completions); repeatable. [env: ACYTOO_SERVER_API_KEY, "
    "space-separated]",
)
@click.option(
    "--allow-client-keys/--no-client-keys",
    default=True,
    show_default=True,
    help="Use a request's own non-empty 'key' upstream instead of the server's keys.",
)
@click.option(
    "--max-body",
    default="1MiB",
    show_default=True,
    callback=_parse_size,
    help="Largest request body (bytes, or with KiB/MiB); larger ones get 413.",
)
@click.option(
    "--max-messages",
    default=4096,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most messages in one request; more get 400.",
)
@click.option(
    "--rate-limit",
    metavar="RATE",
    help="Per-client limit such as '10/s', '600/min,burst=20' (off by default); "
    "over it: 429 with Retry-After.",
)
@click.option(
    "--grace-period",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to let answers in flight finish after SIGTERM.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Logging level (access log lines are info).",
)
@click.option(
    "--upstream-connections",
    default=1024,
    show_default=True,
    type=click.IntRange(min=0),
    help="Most upstream connections at once (each stream in flight holds one; 0: no limit).",
)
@click.option(
    "--allow-origin",
    multiple=True,
    metavar="ORIGIN",
    help="Let web pages from this origin (scheme://host[:port]; '*' for any) use the "
    "server, with CORS; repeatable. Pages from other origins get 403.",
)
@click.option(
    "--allowed-host",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for this host name (the Host header); repeatable. Bound "
    "to loopback, only localhost, 127.0.0.1 and [::1] are answered otherwise (421).",
)
@click.option(
    "--header-timeout",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a connection may take to send a request's headers (idle ones included).",
)
@click.option(
    "--body-timeout",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a request body may stall before the request gets 408.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    help="Most client connections at once (default: half of the open-files limit).",
)
@click.option("--no-access-log", is_flag=True, help="Do not log one line per request.")
@click.option(
    "--web/--no-web",
    default=True,
    show_default=True,
    help="Serve the chat page at / (--no-web: the API alone).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line (ts, level, worker, request_id, method, path, "
    "status, duration_ms, ttfb_ms).",
)
@click.option(
    "--workers",
    default="1",
    show_default=True,
    metavar="N|auto",
    help="Worker processes serving the port (auto: one per CPU), restarted if they crash.",
)
@click.option(
    "--redis-url",
    envvar="ACYTOO_REDIS_URL",
    help="Keep rate limits, failed-password counts and key rotation in this Redis, shared by "
    "every worker and instance. [env: ACYTOO_REDIS_URL]",
)
@click.option(
    "--redis-required",
    is_flag=True,
    help="Answer 503 while Redis is unreachable (default: fall back to per-process limits).",
)
@click.option(
    "--ipv6-prefix",
    default=64,
    show_default=True,
    type=click.IntRange(0, 128),
    help="Rate-limit IPv6 clients by their network of this prefix length.",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    help="Serve /metrics without the password or API key.",
)
def serve(
    host: str,
    port: int,
    backend: str,
    upstream_url: tuple[str, ...],
    upstream_key: tuple[str, ...],
    upstream_password: str | None,
    key_selection: str,
    shuffle: bool,
    model_default: str | None,
    allow_model: tuple[str, ...],
    model_alias: tuple[tuple[str, str], ...],
    password: str | None,
    api_key: tuple[str, ...],
    allow_client_keys: bool,
    max_body: int,
    max_messages: int,
    rate_limit: str | None,
    grace_period: float,
    log_level: str,
    upstream_connections: int,
    allow_origin: tuple[str, ...],
    allowed_host: tuple[str, ...],
    header_timeout: float,
    body_timeout: float,
    max_connections: int | None,
    no_access_log: bool,
    web: bool,
    log_format: str,
    workers: str,
    redis_url: str | None,
    redis_required: bool,
    ipv6_prefix: int,
    metrics_public: bool,
) -> None:
    """Serve the Acytoo protocol and an OpenAI-compatible API.

    Endpoints: POST /api/completions (Acytoo protocol), POST /v1/chat/completions,
    GET /v1/models and POST /v1/embeddings (OpenAI), GET /healthz, GET /readyz,
    GET /metrics, GET /openapi.json, and the chat page at / (with POST /api/render;
    --no-web turns them off). With no
    backend configured it serves the offline documentation assistant. It stops
    on SIGTERM or Ctrl-C after letting answers in flight finish (--grace-period).

    \b
    Examples:
      acytoo serve
      acytoo serve --backend openai --upstream-url http://127.0.0.1:11434/v1
      ACYTOO_SERVER_PASSWORD=s3cret acytoo serve --host 0.0.0.0
    """
    from .._base_errors import InvalidRequestError
    from ..server import ServerConfig, build_backend, parse_rate_limit, run
    from ..server.logs import configure_logging
    from ..server.workers import parse_workers

    configure_logging(log_level, "json" if log_format == "json" else "text")
    try:
        worker_count = parse_workers(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from None
    try:
        limit = parse_rate_limit(rate_limit) if rate_limit else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limit") from None
    try:
        config = ServerConfig(
            host=host,
            port=port,
            backend=build_backend(backend, upstream_url, shuffle=shuffle),
            upstream_keys=upstream_key,
            upstream_password=upstream_password or None,
            key_selection="random" if key_selection == "random" else "round-robin",
            allow_client_keys=allow_client_keys,
            default_model=model_default or None,
            allowed_models=allow_model,
            model_aliases=model_alias,
            password=password or None,
            api_keys=tuple(key for key in api_key if key),
            max_body=max_body,
            max_messages=max_messages,
            rate_limit=limit,
            grace_period=grace_period,
            access_log=not no_access_log,
            upstream_connections=upstream_connections,
            allow_origins=allow_origin,
            allowed_hosts=allowed_host,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            web=web,
            workers=worker_count,
            redis_url=redis_url or None,
            redis_required=redis_required,
            ipv6_prefix=ipv6_prefix,
            metrics_public=metrics_public,
        )
    except InvalidRequestError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        run(config)
    except OSError as exc:
        # Most often: the port is taken.
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
