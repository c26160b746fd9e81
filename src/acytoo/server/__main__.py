"""``python -m acytoo.server``: the same options as ``acytoo serve``, without click.

The parser is built with argparse from the one description of the options
(:data:`acytoo._serve_options.SERVE_OPTIONS`) that ``acytoo serve`` also
uses, so flags, defaults and environment variables agree; the server never
imports the CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._base_errors import InvalidRequestError
from .._serve_options import SERVE_OPTIONS, OptionError, ServeOption, config_from_options
from .logs import configure_logging
from .runner import run

__all__ = ["build_parser", "main", "parse_options"]

PROG = "python -m acytoo.server"


def _converter(option: ServeOption) -> Callable[[str], Any]:
    """One given string to the option's value; ``ValueError`` carries the message."""

    def convert(text: str) -> Any:
        if option.parse is not None:
            return option.parse(text)
        if option.choices:
            value = text if option.case_sensitive else text.lower()
            if value not in option.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(option.choices)}")
            return value
        if option.kind not in ("int", "float"):
            return text
        try:
            number: float = int(text) if option.kind == "int" else float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid {option.kind}") from None
        low, high = option.minimum, option.maximum
        too_low = low is not None and (number <= low if option.min_open else number < low)
        if too_low or (high is not None and number > high):
            bounds = (
                f"{'>' if option.min_open else '>='} {low}" if high is None else f"{low}-{high}"
            )
            raise ValueError(f"{text} is not in the range {bounds}")
        return number

    return convert


def _argparse_type(option: ServeOption) -> Callable[[str], Any]:
    convert = _converter(option)

    def argparse_type(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return argparse_type


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every option of ``acytoo serve``.

    Options that were not given parse as ``None``; :func:`parse_options` fills
    in the environment variable or the default, as click does.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the Acytoo protocol and an OpenAI-compatible API "
        "(the options of `acytoo serve`).",
    )
    for option in SERVE_OPTIONS:
        choices = "{" + ",".join(option.choices) + "}" if option.choices else None
        shown = f"{option.help} [default: {option.default}]" if option.show_default else option.help
        shown = shown.replace("%", "%%")
        if option.kind == "flag":
            parser.add_argument(
                option.name, dest=option.dest, action="store_const", const=True, help=shown
            )
            if option.off:
                parser.add_argument(option.off, dest=option.dest, action="store_const", const=False)
            continue
        parser.add_argument(
            option.name,
            dest=option.dest,
            type=_argparse_type(option),
            action="append" if option.multiple else "store",
            metavar=option.metavar or choices,
            help=shown,
        )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The option values of ``argv``: given, else from the environment, else the default."""
    parser = build_parser()
    values = vars(parser.parse_args(argv))
    for option in SERVE_OPTIONS:
        if values[option.dest] is not None:
            if option.multiple:
                values[option.dest] = tuple(values[option.dest])
            continue
        text = os.environ.get(option.env) if option.env else None
        convert = _converter(option)
        try:
            if text and option.multiple:
                value: Any = tuple(convert(item) for item in text.split())
            elif text:
                value = convert(text)
            elif option.multiple:
                value = ()
            elif isinstance(option.default, str):
                value = convert(option.default)
            else:
                value = option.default
        except ValueError as exc:
            parser.error(f"{option.env}: {exc}")
        values[option.dest] = value
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, then serve until SIGTERM or Ctrl-C; the exit status."""
    values = parse_options(argv)
    configure_logging(values["log_level"], "json" if values["log_format"] == "json" else "text")
    try:
        config = config_from_options(values)
    except OptionError as exc:
        build_parser().error(f"argument {exc.option}: {exc}")
    except InvalidRequestError as exc:
        build_parser().error(str(exc))
    try:
        run(config)
    except OSError as exc:
        # Most often: the port is taken.
        print(
            f"{PROG}: error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
