"""The interactive ``acytoo chat`` session (prompt_toolkit).

Keys: Enter sends; Alt-Enter, or Esc then Enter, starts a new line (pasted
multi-line text is kept as is); Ctrl-C at the prompt clears the line, while
an answer streams it stops the answer (what arrived is kept, and stored
marked incomplete) and returns to the prompt; Ctrl-D exits.

Commands: ``/new``, ``/system TEXT`` (``/system -`` clears, ``/system``
shows), ``/model NAME`` (``/model`` shows), ``/help``, ``/exit``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import exit_codes
from ._conversation import ChatSession, report_error
from .render import PlainRenderer, Renderer, make_renderer

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

__all__ = ["HELP", "run_repl"]

HELP = """\
Enter sends · Alt-Enter (or Esc, Enter) adds a line · Ctrl-C stops an answer · Ctrl-D exits
  /new           start a new conversation (the system prompt stays)
  /system TEXT   set the system prompt (/system - clears it, /system shows it)
  /model NAME    switch model (/model shows it)
  /help          this help
  /exit          leave (Ctrl-D too)"""


async def run_repl(session: ChatSession) -> int:
    """Read prompts until Ctrl-D or ``/exit``; returns the exit code."""
    prompt = _prompt_session()
    _say(_banner(session))
    while True:
        try:
            text = await prompt.prompt_async("> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt: drop the line, like a shell
        except EOFError:
            return exit_codes.OK
        if not text.strip():
            continue
        if text.lstrip().startswith("/"):
            if _command(session, text.strip()) == "exit":
                return exit_codes.OK
            continue
        renderer: Renderer = make_renderer(stream=True)
        if isinstance(renderer, PlainRenderer):
            renderer = _EndWithNewline(renderer)
        outcome = await session.ask(text, renderer)
        if outcome.terminated:
            return exit_codes.TERMINATED
        if outcome.interrupted:
            _say("[interrupted]")
        elif outcome.error is not None:
            report_error(outcome.error, session.secrets)


def _prompt_session() -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    bindings = KeyBindings()

    # Alt-Enter reaches the application as Escape followed by Enter.
    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    def continuation(width: int, line_number: int, wrap_count: int) -> str:
        return "." * (width - 1) + " "

    # In-memory input history: --no-log must not leave typed text on disk.
    return PromptSession(
        history=InMemoryHistory(),
        key_bindings=bindings,
        multiline=False,
        prompt_continuation=continuation,
    )


def _banner(session: ChatSession) -> str:
    where = f"{session.model} via {session.call.name}"
    if session.call.url:
        from ..store import public_url

        where += f" ({public_url(session.call.url)})"
    lines = [f"acytoo chat · {where}"]
    if session.conversation_id is not None:
        lines.append(
            f"continuing conversation {session.conversation_id} ({len(session.history)} messages)"
        )
    lines.append("Enter sends, Alt-Enter adds a line, /help for commands, Ctrl-D exits.")
    return "\n".join(lines)


def _command(session: ChatSession, line: str) -> str | None:
    """Run a /command; returns ``"exit"`` to leave."""
    name, _, argument = line.partition(" ")
    argument = argument.strip()
    handler = _COMMANDS.get(name.lower())
    if handler is None:
        _say(f"unknown command {name}; /help lists them")
        return None
    return handler(session, argument)


def _exit(session: ChatSession, argument: str) -> str:
    return "exit"


def _new(session: ChatSession, argument: str) -> None:
    session.new()
    _say("New conversation.")


def _system(session: ChatSession, argument: str) -> None:
    if not argument:
        _say(f"System prompt: {session.system}" if session.system else "No system prompt.")
    elif argument == "-":
        session.system = None
        _say("System prompt cleared.")
    else:
        session.system = argument
        _say("System prompt set.")


def _model(session: ChatSession, argument: str) -> None:
    if not argument:
        _say(f"Model: {session.model}")
    else:
        session.model = argument
        _say(f"Model: {session.model}")


def _help(session: ChatSession, argument: str) -> None:
    _say(HELP)


_COMMANDS: dict[str, Callable[[ChatSession, str], str | None]] = {
    "/exit": _exit,
    "/quit": _exit,
    "/new": _new,
    "/system": _system,
    "/model": _model,
    "/help": _help,
}


class _EndWithNewline:
    """Plain output in the session: the next prompt starts on its own line."""

    def __init__(self, inner: PlainRenderer) -> None:
        self.inner = inner

    def start(self) -> None:
        self.inner.start()

    def chunk(self, text: str) -> None:
        self.inner.chunk(text)

    def finish(self, text: str) -> None:
        self.inner.finish(text)
        if text and not text.endswith("\n"):
            self.inner.file.write("\n")
            self.inner.file.flush()


def _say(message: str) -> None:
    print(message, file=sys.stdout, flush=True)
