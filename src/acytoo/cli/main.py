"""The ``acytoo`` command group; each subcommand's module is imported only when it runs."""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__
from . import exit_codes
from .render import enable_debug

__all__ = ["cli"]

# name -> (module:attribute, one-line help). The help is written here so that
# `acytoo --help` lists the commands without importing them (`serve` pulls in
# aiohttp, `chat` the providers).
_COMMANDS: dict[str, tuple[str, str]] = {
    "chat": ("acytoo.cli.chat:chat", "Ask a question: one-shot, piped or interactive."),
    "logs": ("acytoo.cli.logs:logs", "List, show and export the conversation history."),
    "models": ("acytoo.cli.models:models", "List the models the configured service offers."),
    "serve": ("acytoo.cli.serve:serve", "Run the Acytoo and OpenAI-compatible HTTP server."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attribute = entry[0].partition(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]} is not a click command")
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in sorted(_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        enable_debug()
    return value


@click.group(
    cls=LazyGroup,
    epilog=exit_codes.EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="acytoo", message="%(prog)s %(version)s"
)
@click.option(
    "--debug",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_set_debug,
    help="Show tracebacks of errors (also ACYTOO_DEBUG=1).",
)
def cli(**_: Any) -> None:
    """acytoo: chat with Acytoo-protocol and OpenAI-compatible services, or offline.

    \b
      acytoo chat "Hello"                       ask (offline assistant if nothing is configured)
      acytoo chat --url http://127.0.0.1:8000 "Hi"
      acytoo chat --provider openai --url http://localhost:11434/v1 -m llama3.2 "Hi"
      acytoo chat                               interactive session
      acytoo logs                               recent conversations
      acytoo serve                              run the server
    """
