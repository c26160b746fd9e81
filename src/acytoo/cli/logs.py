"""``acytoo logs``: the conversation history kept in SQLite."""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from . import exit_codes

if TYPE_CHECKING:
    from ..store import Conversation, Store

__all__ = ["logs", "markdown"]

_FIRST_WORDS = 60


@click.group(invoke_without_command=True, epilog=exit_codes.EPILOG)
@click.option("-n", "--count", default=20, show_default=True, help="How many (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Export them, with their messages, as JSON.")
@click.option(
    "-q",
    "--query",
    metavar="TEXT",
    help="Only conversations with a message containing these words.",
)
@click.pass_context
def logs(ctx: click.Context, count: int, as_json: bool, query: str | None) -> None:
    """List recent conversations: id, time, model and first words.

    \b
      acytoo logs -q "socks proxy"          conversations mentioning both words
      acytoo logs show ID                   one conversation
      acytoo logs export ID --format json   one conversation as Markdown or JSON
      acytoo logs rm ID                     delete one

    The history lives in $ACYTOO_DB, else $XDG_DATA_HOME/acytoo/logs.db
    (see `acytoo logs path`).
    """
    if ctx.invoked_subcommand is not None:
        return
    if count < 0:
        raise click.BadParameter("must be 0 or more", param_hint="-n")
    store = _open(create=False)
    if store is None:
        if as_json:
            click.echo("[]")
        else:
            click.echo("No conversations yet.", err=True)
        return
    with store:
        if query is not None:
            summaries = store.search(query, count or None)
        else:
            summaries = store.recent(count or None)
        if as_json:
            exported = [store.export(summary.id) for summary in summaries]
            click.echo(json.dumps(exported, ensure_ascii=False, indent=2))
            return
    if not summaries:
        click.echo(
            "No conversations yet." if query is None else f"No conversation matches {query!r}.",
            err=True,
        )
        return
    width = max(len(str(s.id)) for s in summaries)
    model_width = min(28, max(len(s.model or "-") for s in summaries))
    for summary in summaries:
        words = summary.first_words
        if len(words) > _FIRST_WORDS:
            words = words[: _FIRST_WORDS - 1].rstrip() + "…"
        click.echo(
            f"{summary.id:>{width}}  {_local_time(summary.updated_at)}  "
            f"{(summary.model or '-'):<{model_width}}  {words}"
        )


@logs.command()
@click.argument("conversation_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object.")
def show(conversation_id: str, as_json: bool) -> None:
    """Show conversation ID (or `latest`) with every message."""
    with _conversation_in_store(conversation_id) as (store, wanted):
        if as_json:
            click.echo(json.dumps(store.export(wanted), ensure_ascii=False, indent=2))
            return
        conversation = store.conversation(wanted)
    assert conversation is not None
    _print_conversation(conversation)


@logs.command()
@click.argument("conversation_id", metavar="ID")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="Markdown to read or share, JSON with every detail.",
)
def export(conversation_id: str, format_: str) -> None:
    """Print conversation ID (or `latest`) as Markdown or JSON."""
    with _conversation_in_store(conversation_id) as (store, wanted):
        data = store.export(wanted)
    assert data is not None
    if format_ == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(markdown(data))
        sys.stdout.flush()


@logs.command()
@click.argument("conversation_id", metavar="ID")
def rm(conversation_id: str) -> None:
    """Delete conversation ID (or `latest`) with all its messages."""
    with _conversation_in_store(conversation_id) as (store, wanted):
        store.delete(wanted)
    click.echo(f"Deleted conversation {wanted}.", err=True)


def markdown(data: dict[str, Any]) -> str:
    """An exported conversation as Markdown: a title line, then one section per message.

    Message text is Markdown already and is kept as written.
    """
    lines = [f"# Conversation {data['id']}", ""]
    details = [f"started {data['created_at']}"]
    if data.get("model"):
        details.append(f"model `{data['model']}`")
    if data.get("provider"):
        details.append(f"via {data['provider']}")
    lines += [", ".join(details), ""]
    for message in data["messages"]:
        heading = message["role"].capitalize()
        if message.get("incomplete"):
            heading += " (incomplete)"
        lines += [f"## {heading}", "", message["content"].rstrip("\n"), ""]
    return "\n".join(lines)


@logs.command()
def path() -> None:
    """Print where the history database is."""
    from ..store import default_db_path

    click.echo(str(default_db_path()))


def _open(*, create: bool) -> Store | None:
    from ..store import Store, default_db_path

    db_path = default_db_path()
    if not create and not db_path.exists():
        return None
    try:
        return Store(db_path)
    except Exception as exc:
        raise click.ClickException(f"cannot open the history database {db_path}: {exc}") from exc


@contextlib.contextmanager
def _conversation_in_store(value: str) -> Iterator[tuple[Store, int]]:
    """The history store, open while the block runs, and the id of conversation ``value``."""
    store = _open(create=False)
    if store is None:
        raise click.UsageError("there are no conversations yet")
    with store:
        yield store, _conversation_id(store, value)


def _conversation_id(store: Store, value: str) -> int:
    if value in ("latest", "last"):
        latest = store.latest_conversation_id()
        if latest is None:
            raise click.UsageError("there are no conversations yet")
        return latest
    try:
        wanted = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a conversation id", param_hint="ID") from None
    if store.conversation(wanted) is None:
        raise click.UsageError(f"no conversation {wanted} (acytoo logs lists them)")
    return wanted


def _print_conversation(conversation: Conversation) -> None:
    exchanges = {exchange.id: exchange for exchange in conversation.exchanges}
    answered = conversation.answered_exchanges()
    out = sys.stdout
    out.write(
        f"Conversation {conversation.id} · started {_local_time(conversation.created_at)}"
        f" · {len(conversation.messages)} messages\n"
    )
    for message in conversation.messages:
        details: list[str] = [_local_time(message.created_at, seconds=True)]
        exchange = exchanges.get(message.exchange_id) if message.exchange_id else None
        if message.role == "assistant" and exchange is not None:
            details.append(f"{exchange.model} via {exchange.provider}")
            if exchange.url:
                details.append(exchange.url)
            if exchange.first_chunk_ms is not None:
                details.append(f"first chunk {exchange.first_chunk_ms:.0f} ms")
            if exchange.duration_ms is not None:
                details.append(f"{exchange.duration_ms / 1000:.1f} s")
        out.write(f"\n── {message.role} · {' · '.join(details)}\n")
        out.write(message.content.rstrip("\n") + "\n")
        if message.incomplete:
            reason = exchange.error if exchange is not None and exchange.error else "incomplete"
            out.write(f"[incomplete: {reason}]\n")
        if (
            message.role == "user"
            and exchange is not None
            and exchange.error
            and exchange.id not in answered
        ):
            out.write(f"[no answer: {exchange.error}]\n")
    out.flush()


def _local_time(stamp: str, *, seconds: bool = False) -> str:
    try:
        moment = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
