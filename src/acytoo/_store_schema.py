"""The history database's schema: an append-only list of named migrations.

Never edit a migration that has shipped; add the next one (``m002_...``) at
the end of :data:`MIGRATIONS`. :class:`acytoo.store.Store` applies the
missing ones, records each name in ``_migrations`` and sets
``PRAGMA user_version`` to their count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS"]


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


MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("m001_initial", _m001_initial),
)
"""Every schema change, oldest first; the schema version is their count."""
