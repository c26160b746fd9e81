"""``acytoo serve``: run the server.

Only click is imported here; aiohttp and the server load when the command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .._serve_options import SERVE_OPTIONS, ServeOption

__all__ = ["serve"]


def _parsing(parse: Callable[[str], Any], multiple: bool) -> Callable[..., Any]:
    """A click callback over a :class:`ServeOption`'s ``parse`` function."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            if multiple:
                return tuple(parse(item) for item in value)
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def _value_type(option: ServeOption) -> dict[str, Any]:
    """The ``type`` (or ``callback``) arguments of click.option for ``option``."""
    if option.parse is not None:
        return {"callback": _parsing(option.parse, option.multiple)}
    if option.choices:
        return {"type": click.Choice(option.choices, case_sensitive=option.case_sensitive)}
    if option.kind == "int":
        low = None if option.minimum is None else int(option.minimum)
        high = None if option.maximum is None else int(option.maximum)
        return {"type": click.IntRange(low, high)}
    if option.kind == "float":
        return {"type": click.FloatRange(option.minimum, option.maximum, min_open=option.min_open)}
    return {}


def _click_option(option: ServeOption) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if option.kind == "flag":
        # A lone flag is declared as one; a pair "--on/--off" makes click infer it.
        declaration = f"{option.name}/{option.off}" if option.off else option.name
        single: dict[str, Any] = {} if option.off else {"is_flag": True}
        return click.option(
            declaration,
            option.dest,
            default=option.default,
            **single,
            show_default=option.show_default,
            help=option.help,
        )
    return click.option(
        option.name,
        option.dest,
        default=option.default,
        **_value_type(option),
        multiple=option.multiple,
        envvar=option.env,
        metavar=option.metavar,
        show_default=option.show_default,
        help=option.help,
    )


def _with_serve_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(SERVE_OPTIONS):
        function = _click_option(option)(function)
    return function


@click.command()
@_with_serve_options
def serve(**values: Any) -> None:
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
    from .._serve_options import OptionError, config_from_options
    from ..server import run
    from ..server.logs import configure_logging

    configure_logging(values["log_level"], "json" if values["log_format"] == "json" else "text")
    try:
        config = config_from_options(values)
    except OptionError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    except InvalidRequestError as exc:
        raise click.UsageError(str(exc)) from None
    host, port = config.host, config.port
    try:
        run(config)
    except OSError as exc:
        # Most often: the port is taken.
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
