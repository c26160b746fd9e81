"""The history database's schema: an append-only list of named migrations.

Never edit a migration that has shipped; add the next one (``m002_...``) at
the end of :data:`MIGRATIONS`. :class:`acytoo.store.Store` applies the
missing ones, records each name in ``_migrations`` and sets
``PRAGMA user_version`` to their count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "fts5_available"]


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE exchanges (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            url TEXT,
            temperature REAL,
            started_at TEXT NOT NULL,
            first_chunk_ms REAL,
            duration_ms REAL,
            error TEXT,
            incomplete INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            exchange_id INTEGER REFERENCES exchanges(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created_at TEXT NOT NULL,
            incomplete INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")
    db.execute("CREATE INDEX exchanges_by_conversation ON exchanges(conversation_id, id)")
    db.execute("CREATE INDEX conversations_by_update ON conversations(updated_at)")


def fts5_available(db: sqlite3.Connection) -> bool:
    """True when this SQLite has the FTS5 extension (nearly every build does)."""
    row = db.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()
    if row is not None and row[0]:
        return True
    try:
        db.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    db.execute("DROP TABLE temp._fts5_probe")
    return True


def _m002_message_search(db: sqlite3.Connection) -> None:
    # A full-text index over message contents for `acytoo logs -q`, kept in
    # step by triggers; it stores no second copy of the text (content=messages).
    # Without FTS5 the search falls back to LIKE (see Store.search).
    if not fts5_available(db):
        return
    db.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5("
        "content, content='messages', content_rowid='id')"
    )
    db.execute("INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages")
    db.execute(
        """
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END
        """
    )


def _m003_drop_unused_index(db: sqlite3.Connection) -> None:
    # Conversations are ordered by their latest message (store._BY_ACTIVITY),
    # never by updated_at: the index only cost every write.
    db.execute("DROP INDEX IF EXISTS conversations_by_update")


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("m001_initial", _m001_initial),
    ("m002_message_search", _m002_message_search),
    ("m003_drop_unused_index", _m003_drop_unused_index),
)
"""Every schema change, oldest first; the schema version is their count."""
