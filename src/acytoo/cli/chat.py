"""``acytoo chat``: one-shot, piped and interactive chat."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import exit_codes
from ._where import where_options
from .config import ConfigError, Settings, Target, config_path, resolve
from .render import Renderer, make_renderer, notice

if TYPE_CHECKING:
    from ..store import Conversation, Store
    from ._conversation import ChatSession
    from ._provider import ProviderCall
    from ._stream import Outcome

__all__ = ["chat"]

_FALLBACK_NOTICE = (
    "no service configured (--url, ACYTOO_URL or {config}); "
    "answering with the built-in offline assistant ({model})"
)


_MAX_TOKENS = click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    metavar="N",
    help="Longest answer, in tokens (OpenAI-compatible services).",
)


@click.command(epilog=exit_codes.EPILOG)
@click.argument("prompt", nargs=-1)
@click.option("-s", "--system", help="System prompt (instructions for the model).")
@click.option("-m", "--model", help="Model to ask (default: the service's default).")
@click.option(
    "-t", "--temperature", type=click.FloatRange(0, 2), help="Sampling temperature, 0 to 2."
)
@where_options(detailed=True, before_retries=[_MAX_TOKENS])
@click.option(
    "-o",
    "--option",
    "options",
    type=(str, str),
    multiple=True,
    metavar="NAME VALUE",
    help="A provider option, repeatable: -o max_tokens 200. VALUE is read as JSON "
    "(a number, true, false, null) when it is one, else as text.",
)
@click.option("--no-stream", is_flag=True, help="Print the answer only once it is complete.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object: text, model, timings, ids."
)
@click.option(
    "-c", "--continue", "continue_", is_flag=True, help="Continue the latest conversation."
)
@click.option("--cid", type=int, metavar="ID", help="Continue conversation ID (see acytoo logs).")
@click.option("--no-log", is_flag=True, help="Do not record this conversation.")
def chat(
    prompt: tuple[str, ...],
    settings: Settings,
    max_tokens: int | None,
    max_retries: int | None,
    options: tuple[tuple[str, str], ...],
    no_stream: bool,
    as_json: bool,
    continue_: bool,
    cid: int | None,
    no_log: bool,
) -> None:
    """Ask a question and stream the answer.

    \b
      acytoo chat "What is acytoo?"
      git diff | acytoo chat "review this"      (stdin is appended to the prompt)
      acytoo chat -c "and in Python?"           (continue the latest conversation)
      acytoo chat                                (interactive session on a terminal)

    In the interactive session Enter sends, Alt-Enter (or Esc then Enter) starts
    a new line, Ctrl-C stops the answer, Ctrl-D exits; /new, /system TEXT,
    /model NAME, /help and /exit are commands.

    Where it sends: --url/--provider, else ACYTOO_URL/ACYTOO_PROVIDER, else the
    config file ($XDG_CONFIG_HOME/acytoo/config.toml), else the built-in offline
    assistant. A URL ending in /v1 means --provider openai unless told otherwise.
    """
    text = _prompt(prompt, as_json=as_json)
    if continue_ and cid is not None:
        raise click.UsageError("use either -c/--continue or --cid, not both")
    target = _resolve(settings)
    call = _call(target, options, max_tokens=max_tokens, max_retries=max_retries)
    store = _open_store(no_log, reading=continue_ or cid is not None)
    try:
        conversation = _conversation_to_continue(store, continue_, cid)
        session = _session(call, target, settings, None if no_log else store, conversation)
        if target.fallback and _first_fallback():
            notice(
                _FALLBACK_NOTICE.format(
                    config=_home_relative(config_path()), model=call.default_model
                )
            )
        code = _run(session, text, stream=not no_stream, as_json=as_json)
    finally:
        if store is not None:
            store.close()
    if code:
        raise click.exceptions.Exit(code)


def _prompt(words: tuple[str, ...], *, as_json: bool) -> str:
    """The prompt: the arguments, then what is piped to stdin; empty for a session."""
    text = " ".join(words)
    piped = _read_piped_stdin()
    if piped is not None and piped.strip():
        text = f"{text}\n\n{piped}" if text else piped
    if not text and piped is not None:
        raise click.UsageError("no prompt: pass one as an argument or on stdin")
    if not text and as_json:
        raise click.UsageError("--json needs a prompt")
    return text


def _call(
    target: Target,
    options: tuple[tuple[str, str], ...],
    *,
    max_tokens: int | None,
    max_retries: int | None,
) -> ProviderCall:
    """The provider call that reaches ``target``, with the options of the flags."""
    from ._provider import provider_call, with_options

    return with_options(
        provider_call(target), options, max_tokens=max_tokens, max_retries=max_retries
    )


def _run(session: ChatSession, text: str, *, stream: bool, as_json: bool) -> int:
    """Ask ``text`` once, or run the interactive session when there is no prompt."""
    if text:
        return _one_shot(session, text, stream=stream, as_json=as_json)
    from .repl import run_repl

    return asyncio.run(run_repl(session))


# Remembered next to the history database, so the fallback notice is said once.
_FALLBACK_MARKER = "offline-notice-shown"


def _first_fallback() -> bool:
    """True the first time the offline assistant answers for lack of a configured service."""
    from ..store import default_db_path

    marker = default_db_path().parent / _FALLBACK_MARKER
    if marker.exists():
        return False
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # nowhere to remember it: say it every time rather than never
    return True


def _read_piped_stdin() -> str | None:
    """The text piped to stdin, or ``None`` when stdin is a terminal (or closed)."""
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return None
    try:
        if stdin.isatty():
            return None
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    except (OSError, ValueError):
        return None
    return data.decode("utf-8", errors="replace")


def _resolve(flags: Settings) -> Target:
    try:
        return resolve(flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _home_relative(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def _open_store(no_log: bool, *, reading: bool) -> Store | None:
    """The history store; with --no-log only to read a conversation to continue."""
    from ..store import Store, default_db_path

    if no_log and not (reading and default_db_path().exists()):
        return None
    try:
        return Store()
    except Exception as exc:
        raise click.ClickException(
            f"cannot open the history database {default_db_path()}: {exc} "
            "(set ACYTOO_DB, or pass --no-log)"
        ) from exc


def _conversation_to_continue(
    store: Store | None, continue_: bool, cid: int | None
) -> Conversation | None:
    if not continue_ and cid is None:
        return None
    wanted = cid
    if wanted is None:
        wanted = store.latest_conversation_id() if store is not None else None
        if wanted is None:
            raise click.UsageError("there is no conversation to continue yet")
    conversation = store.conversation(wanted) if store is not None else None
    if conversation is None:
        raise click.UsageError(f"no conversation {wanted} (acytoo logs lists them)")
    return conversation


def _session(
    call: ProviderCall,
    target: Target,
    flags: Settings,
    store: Store | None,
    conversation: Conversation | None,
) -> ChatSession:
    from ._conversation import ChatSession

    # A continued conversation keeps its model and system prompt unless the
    # flags say otherwise; environment and config apply to new ones.
    model = flags.model
    if model is None and conversation is not None and conversation.provider == call.name:
        model = conversation.model
    system = flags.system
    if system is None and conversation is None:
        system = target.system
    session = ChatSession(
        call, call.model(model or target.model), system=system, store=store, secrets=target.secrets
    )
    if conversation is not None:
        session.resume(conversation)
    return session


def _one_shot(session: ChatSession, prompt: str, *, stream: bool, as_json: bool) -> int:
    from ._conversation import report_error

    renderer: Renderer = _Silent() if as_json else make_renderer(stream)
    outcome = asyncio.run(session.ask(prompt, renderer))
    if isinstance(outcome.error, BrokenPipeError):
        raise outcome.error  # the reader left (`| head`); the edge exits quietly
    if as_json:
        sys.stdout.write(json.dumps(_json_result(session, outcome), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    if outcome.interrupted:
        notice("interrupted; the partial answer was kept")
        return exit_codes.TERMINATED if outcome.terminated else exit_codes.INTERRUPTED
    if outcome.error is not None:
        report_error(outcome.error, session.secrets)
        return exit_codes.exit_code_for(outcome.error)
    return exit_codes.OK


def _json_result(session: ChatSession, outcome: Outcome) -> dict[str, Any]:
    """What ``--json`` prints: the answer, where it came from, its timings and error."""
    from ._conversation import describe_error

    return {
        "text": outcome.text,
        "model": session.model,
        "provider": session.call.name,
        "url": _public(session.call.url),
        "conversation_id": session.conversation_id,
        "complete": outcome.complete,
        "timings": {
            "first_chunk_ms": _round(outcome.first_chunk_ms),
            "duration_ms": _round(outcome.duration_ms),
        },
        "error": describe_error(outcome.error, session.secrets) if outcome.error else None,
    }


class _Silent:
    """Shows nothing (``--json`` prints the result at the end)."""

    def start(self) -> None:
        pass

    def chunk(self, text: str) -> None:
        pass

    def finish(self, text: str) -> None:
        pass


def _public(url: str | None) -> str | None:
    from ..store import public_url

    return public_url(url)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
