"""The command line's conversation history, in SQLite.

The database lives at ``$ACYTOO_DB``, else ``$XDG_DATA_HOME/acytoo/logs.db``
(``~/.local/share/acytoo/logs.db``). Several ``acytoo`` processes may write
at once: the database runs in WAL mode, every write is one short
``BEGIN IMMEDIATE`` transaction (so a writer waits for the lock up front
instead of failing on a read-to-write upgrade) and waits up to
:data:`BUSY_TIMEOUT` seconds for it.

The schema changes only through :data:`MIGRATIONS`, an append-only list of
named functions; each applied name is recorded in the ``_migrations`` table
and ``PRAGMA user_version`` holds their count (the schema version).

Tables::

    conversations(id, created_at, updated_at)
    exchanges(id, conversation_id, model, provider, url, temperature,
              started_at, first_chunk_ms, duration_ms, error, incomplete)
    messages(id, conversation_id, exchange_id, role, content, created_at, incomplete)

An exchange is one request: its user message is written before anything is
sent (nothing typed is lost) and it starts out ``incomplete``; it becomes
complete only when the whole answer arrived. An answer cut short by Ctrl-C or
an error is stored as far as it arrived, still marked incomplete. Only the
library's callers (the CLI) use this module; the library and the server do
not import it.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import _store_schema
from ._private_files import prepare_private_file
from ._store_records import Conversation, ConversationSummary, Exchange, StoredMessage

__all__ = [
    "BUSY_TIMEOUT",
    "MIGRATIONS",
    "Conversation",
    "ConversationSummary",
    "Exchange",
    "Store",
    "StoredMessage",
    "default_db_path",
    "public_url",
]

BUSY_TIMEOUT = 30.0
"""Seconds a writer waits for another process's write to finish."""

DB_ENVIRONMENT_VARIABLE = "ACYTOO_DB"


MIGRATIONS = _store_schema.MIGRATIONS
"""Every schema change, oldest first (see :mod:`acytoo._store_schema`)."""


def default_db_path() -> Path:
    """``$ACYTOO_DB``, else ``$XDG_DATA_HOME/acytoo/logs.db`` (``~/.local/share`` by default)."""
    override = os.environ.get(DB_ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "acytoo" / "logs.db"


def public_url(url: str | None) -> str | None:
    """``url`` without user, password, query or fragment: safe to store and show."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal needs its brackets back
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


# Most recent activity first. Message ids grow with every write, whichever
# process makes it, so they order activity exactly where timestamps can tie.
_BY_ACTIVITY = (
    "coalesce((SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id), 0) DESC, c.id DESC"
)

# --- the store -------------------------------------------------------------------------


class Store:
    """A connection to the history database; creates and migrates it on open."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if str(self.path) != ":memory:":
            prepare_private_file(self.path)  # 0600 in a 0700 folder, whatever the umask
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._enable_wal()
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _enable_wal(self) -> None:
        # Switching the journal mode needs a moment alone with the file; when
        # several processes create the database at once SQLite may answer
        # "locked" without consulting the busy handler, so retry briefly.
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        applied = self._applied_migrations()
        if len(applied) == len(MIGRATIONS):
            return
        with self._write() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            # Re-read under the lock: another process may have migrated meanwhile.
            done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                migration(db)
                db.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now())
                )
            db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def _applied_migrations(self) -> set[str]:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        ).fetchone()
        if not exists:
            return set()
        return {row[0] for row in self._db.execute("SELECT name FROM _migrations")}

    @property
    def schema_version(self) -> int:
        """The number of migrations applied."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def migrations(self) -> list[str]:
        """The names of the applied migrations, in order."""
        return [row[0] for row in self._db.execute("SELECT name FROM _migrations ORDER BY rowid")]

    # --- writing -----------------------------------------------------------------------

    def new_conversation(self) -> int:
        """Create an empty conversation; returns its id."""
        now = _now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (created_at, updated_at) VALUES (?, ?)", (now, now)
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def set_system(self, conversation_id: int, content: str) -> None:
        """Record a new system prompt (an empty one clears it)."""
        now = _now()
        with self._write() as db:
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, created_at) "
                "VALUES (?, 'system', ?, ?)",
                (conversation_id, content, now),
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )

    def start_exchange(
        self,
        conversation_id: int,
        prompt: str,
        *,
        model: str,
        provider: str,
        url: str | None,
        temperature: float | None = None,
    ) -> int:
        """Store the user's message and an exchange marked incomplete; returns its id."""
        now = _now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO exchanges (conversation_id, model, provider, url, temperature, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, model, provider, public_url(url), temperature, now),
            )
            exchange_id = cursor.lastrowid
            db.execute(
                "INSERT INTO messages (conversation_id, exchange_id, role, content, created_at) "
                "VALUES (?, ?, 'user', ?, ?)",
                (conversation_id, exchange_id, prompt, now),
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        assert exchange_id is not None
        return exchange_id

    def finish_exchange(
        self,
        exchange_id: int,
        answer: str,
        *,
        first_chunk_ms: float | None,
        duration_ms: float,
        error: str | None = None,
        incomplete: bool = False,
    ) -> None:
        """Store the answer (as far as it arrived) and how the exchange went.

        An empty answer is stored only when the exchange completed.
        """
        now = _now()
        incomplete = incomplete or error is not None
        with self._write() as db:
            row = db.execute(
                "SELECT conversation_id FROM exchanges WHERE id = ?", (exchange_id,)
            ).fetchone()
            if row is None:
                raise KeyError(exchange_id)
            conversation_id = row[0]
            db.execute(
                "UPDATE exchanges SET first_chunk_ms = ?, duration_ms = ?, error = ?, "
                "incomplete = ? WHERE id = ?",
                (first_chunk_ms, duration_ms, error, int(incomplete), exchange_id),
            )
            if answer or not incomplete:
                db.execute(
                    "INSERT INTO messages (conversation_id, exchange_id, role, content, "
                    "created_at, incomplete) VALUES (?, ?, 'assistant', ?, ?, ?)",
                    (conversation_id, exchange_id, answer, now, int(incomplete)),
                )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )

    # --- reading -----------------------------------------------------------------------

    def latest_conversation_id(self) -> int | None:
        """The most recently updated conversation, if any."""
        row = self._db.execute(
            f"SELECT id FROM conversations c ORDER BY {_BY_ACTIVITY} LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

    def conversation(self, conversation_id: int) -> Conversation | None:
        """The conversation with its messages and exchanges, or ``None``."""
        row = self._db.execute(
            "SELECT id, created_at, updated_at FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            return None
        messages = [
            StoredMessage(
                id=m["id"],
                role=m["role"],
                content=m["content"],
                created_at=m["created_at"],
                exchange_id=m["exchange_id"],
                incomplete=bool(m["incomplete"]),
            )
            for m in self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            )
        ]
        exchanges = [
            Exchange(
                id=e["id"],
                model=e["model"],
                provider=e["provider"],
                url=e["url"],
                temperature=e["temperature"],
                started_at=e["started_at"],
                first_chunk_ms=e["first_chunk_ms"],
                duration_ms=e["duration_ms"],
                error=e["error"],
                incomplete=bool(e["incomplete"]),
            )
            for e in self._db.execute(
                "SELECT * FROM exchanges WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            )
        ]
        return Conversation(row["id"], row["created_at"], row["updated_at"], messages, exchanges)

    def recent(self, limit: int | None = 20) -> list[ConversationSummary]:
        """The most recently updated conversations, newest first (``None``: all)."""
        rows = self._db.execute(
            f"""
            SELECT c.id, c.created_at, c.updated_at,
                (SELECT model FROM exchanges e WHERE e.conversation_id = c.id
                    ORDER BY e.id DESC LIMIT 1) AS model,
                (SELECT content FROM messages m WHERE m.conversation_id = c.id
                    AND m.role = 'user' ORDER BY m.id LIMIT 1) AS first_prompt,
                (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS messages
            FROM conversations c
            ORDER BY {_BY_ACTIVITY}
            LIMIT ?
            """,
            (-1 if limit is None else limit,),
        ).fetchall()
        return [
            ConversationSummary(
                id=row["id"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                model=row["model"],
                first_words=" ".join((row["first_prompt"] or "").split()),
                messages=row["messages"],
            )
            for row in rows
        ]

    def search(self, text: str, limit: int | None = 20) -> list[ConversationSummary]:
        """Conversations with a message containing every word of ``text``, newest first.

        Words match whole (case and accents ignored) through the FTS5 index;
        ``text`` is taken literally, never as FTS5 query syntax.
        """
        words = text.split()
        if not words:
            return []
        has_index = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts'"
        ).fetchone()
        if has_index:
            query = " ".join('"' + word.replace('"', '""') + '"' for word in words)
            matching = (
                "SELECT DISTINCT m.conversation_id FROM messages_fts f "
                "JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH ?"
            )
            params: list[Any] = [query]
        else:
            escaped = [
                w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words
            ]
            matching = "SELECT DISTINCT conversation_id FROM messages WHERE " + " AND ".join(
                "content LIKE ? ESCAPE '\\'" for _ in escaped
            )
            params = [f"%{word}%" for word in escaped]
        ids = {int(row[0]) for row in self._db.execute(matching, params)}
        found = [summary for summary in self.recent(None) if summary.id in ids]
        return found if limit is None else found[:limit]

    def delete(self, conversation_id: int) -> bool:
        """Delete a conversation with its messages and exchanges; False if there was none."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return cursor.rowcount > 0

    def export(self, conversation_id: int) -> dict[str, Any] | None:
        """The conversation as a JSON-ready dict, or ``None``."""
        conversation = self.conversation(conversation_id)
        if conversation is None:
            return None
        return {
            "id": conversation.id,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "model": conversation.model,
            "provider": conversation.provider,
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "created_at": m.created_at,
                    "exchange_id": m.exchange_id,
                    "incomplete": m.incomplete,
                }
                for m in conversation.messages
            ],
            "exchanges": [
                {
                    "id": e.id,
                    "model": e.model,
                    "provider": e.provider,
                    "url": e.url,
                    "temperature": e.temperature,
                    "started_at": e.started_at,
                    "first_chunk_ms": e.first_chunk_ms,
                    "duration_ms": e.duration_ms,
                    "error": e.error,
                    "incomplete": e.incomplete,
                }
                for e in conversation.exchanges
            ],
        }
