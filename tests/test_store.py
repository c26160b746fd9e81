"""The SQLite history store: schema, migrations, contents, and several writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from acytoo import store as store_module
from acytoo.store import MIGRATIONS, Store, default_db_path, public_url

WRITERS = 4
EXCHANGES_PER_WRITER = 25


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "logs.db"


def test_default_path_follows_acytoo_db_then_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ACYTOO_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "acytoo" / "logs.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "acytoo" / "logs.db"
    monkeypatch.setenv("ACYTOO_DB", str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"


def test_new_database_is_migrated_in_wal_mode(db: Path) -> None:
    with Store(db) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.migrations == [name for name, _ in MIGRATIONS]
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {
            row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"_migrations", "conversations", "exchanges", "messages"} <= tables


def test_reopening_applies_nothing_twice_and_new_migrations_are_appended(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(db).close()
    calls: list[str] = []

    def m099_tags(connection: sqlite3.Connection) -> None:
        calls.append("m099")
        connection.execute("ALTER TABLE conversations ADD COLUMN tags TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, ("m099_tags", m099_tags)))
    with Store(db) as store:
        assert store.migrations == [*(name for name, _ in MIGRATIONS), "m099_tags"]
        assert store.schema_version == len(MIGRATIONS) + 1
    with Store(db):
        pass
    assert calls == ["m099"]


def test_public_url_drops_credentials_query_and_fragment() -> None:
    assert public_url("http://user:pw@host:8000/v1?key=k#f") == "http://host:8000/v1"
    assert public_url("https://[::1]:8443/") == "https://[::1]:8443/"
    assert public_url(None) is None


def test_exchange_lifecycle(db: Path) -> None:
    with Store(db) as store:
        cid = store.new_conversation()
        store.set_system(cid, "be brief")
        exchange = store.start_exchange(
            cid, "question", model="m", provider="acytoo", url="http://u:p@h/", temperature=0.2
        )
        # Before the answer arrives, the question is already safe on disk.
        conversation = store.conversation(cid)
        assert conversation is not None
        assert [(m.role, m.content) for m in conversation.messages] == [
            ("system", "be brief"),
            ("user", "question"),
        ]
        assert conversation.exchanges[0].incomplete
        store.finish_exchange(exchange, "answer", first_chunk_ms=12.5, duration_ms=40.0)
        conversation = store.conversation(cid)
        assert conversation is not None
        [done] = conversation.exchanges
        assert (done.url, done.temperature, done.first_chunk_ms, done.duration_ms) == (
            "http://h/",
            0.2,
            12.5,
            40.0,
        )
        assert not done.incomplete
        assert done.error is None
        assert conversation.model == "m"
        assert conversation.system == "be brief"


def test_history_skips_failed_questions_and_keeps_partial_answers(db: Path) -> None:
    with Store(db) as store:
        cid = store.new_conversation()
        store.set_system(cid, "old")
        store.set_system(cid, "new")
        ok = store.start_exchange(cid, "q1", model="m", provider="p", url=None)
        store.finish_exchange(ok, "a1", first_chunk_ms=1, duration_ms=2)
        failed = store.start_exchange(cid, "q2", model="m", provider="p", url=None)
        store.finish_exchange(failed, "", first_chunk_ms=None, duration_ms=2, error="refused")
        partial = store.start_exchange(cid, "q3", model="m", provider="p", url=None)
        store.finish_exchange(partial, "half", first_chunk_ms=1, duration_ms=2, error="interrupted")
        conversation = store.conversation(cid)
        assert conversation is not None
        assert conversation.history() == [
            {"role": "system", "content": "new"},
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q3"},
            {"role": "assistant", "content": "half"},
        ]
        # Everything typed is still stored, failures included.
        assert [m.content for m in conversation.messages if m.role == "user"] == ["q1", "q2", "q3"]
        assert [m.incomplete for m in conversation.messages if m.role == "assistant"] == [
            False,
            True,
        ]
        store.set_system(cid, "")
        conversation = store.conversation(cid)
        assert conversation is not None
        assert conversation.system is None
        assert conversation.history()[0] == {"role": "user", "content": "q1"}


def test_recent_orders_by_last_activity(db: Path) -> None:
    with Store(db) as store:
        first = store.new_conversation()
        second = store.new_conversation()
        exchange = store.start_exchange(
            first, "  spaced\n\tout  words ", model="m1", provider="p", url=None
        )
        store.finish_exchange(exchange, "a", first_chunk_ms=1, duration_ms=1)
        summaries = store.recent(10)
        assert [s.id for s in summaries] == [first, second]
        assert summaries[0].first_words == "spaced out words"
        assert summaries[0].model == "m1"
        assert summaries[1].model is None
        assert [s.id for s in store.recent(1)] == [first]
        assert store.latest_conversation_id() == first
        assert store.conversation(9999) is None
        assert store.export(9999) is None


def test_roles_are_constrained(db: Path) -> None:
    with Store(db) as store, sqlite3.connect(db) as raw:
        cid = store.new_conversation()
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(
                "INSERT INTO messages (conversation_id, role, content, created_at) "
                "VALUES (?, 'tool', 'x', 'now')",
                (cid,),
            )


_WRITER = """
import sys
from acytoo.store import Store

path, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Every process opens the (maybe not yet existing) database at the same time.
with Store(path) as store:
    for number in range(count):
        cid = store.new_conversation()
        exchange = store.start_exchange(
            cid, f"question {writer}-{number}", model="m", provider="p", url=None
        )
        store.finish_exchange(
            exchange, f"answer {writer}-{number}", first_chunk_ms=1.0, duration_ms=2.0
        )
print("done")
"""


def test_several_processes_write_at_once_without_losing_rows(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_WRITER))
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), str(writer), str(EXCHANGES_PER_WRITER)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for writer in range(WRITERS)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "locked" not in err
        assert out == "done\n"
    total = WRITERS * EXCHANGES_PER_WRITER
    with Store(db) as store:
        assert store.migrations == [name for name, _ in MIGRATIONS]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM conversations").fetchone() == (total,)
        assert raw.execute("SELECT count(*) FROM exchanges WHERE incomplete = 0").fetchone() == (
            total,
        )
        contents = {row[0] for row in raw.execute("SELECT content FROM messages")}
    expected = {
        f"{kind} {writer}-{number}"
        for kind in ("question", "answer")
        for writer in range(WRITERS)
        for number in range(EXCHANGES_PER_WRITER)
    }
    assert contents == expected


def test_a_failed_write_rolls_back_the_whole_transaction(db: Path) -> None:
    with Store(db) as store:
        conversation = store.new_conversation()
        # The exchange row is inserted first; binding the prompt then fails, inside
        # the same transaction, which must leave no half-written exchange behind.
        with pytest.raises(sqlite3.Error):
            store.start_exchange(
                conversation,
                object(),  # type: ignore[arg-type]
                model="m",
                provider="p",
                url=None,
            )
        raw = sqlite3.connect(db)
        try:
            assert raw.execute("SELECT COUNT(*) FROM exchanges").fetchone() == (0,)
        finally:
            raw.close()
        # The connection is usable afterwards: no transaction was left open.
        exchange = store.start_exchange(conversation, "hi", model="m", provider="p", url=None)
        store.finish_exchange(exchange, "hello", first_chunk_ms=1.0, duration_ms=2.0)
        found = store.conversation(conversation)
        assert found is not None
        assert [message.content for message in found.messages] == ["hi", "hello"]


def test_a_write_waits_for_another_writer_instead_of_failing(db: Path) -> None:

    Store(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        outcome: dict[str, object] = {}

        def write() -> None:
            try:
                with Store(db) as store:
                    outcome["id"] = store.new_conversation()
            except Exception as exc:
                outcome["error"] = exc

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        # Still waiting for the lock (a writer without a busy wait fails at once).
        assert "error" not in outcome
        holder.execute("COMMIT")
        writer.join(30)
        assert not writer.is_alive()
        assert outcome.get("id") == 1, outcome
    finally:
        holder.close()


# --- search and delete -----------------------------------------------------------------


def _exchange(store: Store, question: str, answer: str) -> int:
    conversation = store.new_conversation()
    exchange = store.start_exchange(conversation, question, model="m", provider="local", url=None)
    store.finish_exchange(exchange, answer, first_chunk_ms=1.0, duration_ms=2.0)
    return conversation


def test_search_finds_whole_words_in_questions_and_answers(db: Path) -> None:
    with Store(db) as store:
        assert "m002_message_search" in store.migrations
        proxy = _exchange(store, "How do I use a SOCKS proxy?", "Pass --proxy socks5://host")
        limits = _exchange(store, "rate limits", "Use --rate-limit 10/s on the server")
        both = _exchange(store, "proxy and rate", "Both: see the docs")
        assert [s.id for s in store.search("proxy")] == [both, proxy]
        assert [s.id for s in store.search("SOCKS")] == [proxy]
        assert [s.id for s in store.search("rate proxy")] == [both]  # every word
        assert [s.id for s in store.search("server")] == [limits]  # in the answer
        assert store.search("prox") == []  # whole words
        assert store.search("") == []
        assert [s.id for s in store.search("proxy", limit=1)] == [both]
        # Query syntax is taken literally, never as FTS5 operators.
        for text in ('"', "proxy OR rate", "NEAR(", "*", "rate -proxy", "content:proxy"):
            store.search(text)


def test_search_follows_new_and_deleted_messages(db: Path) -> None:
    with Store(db) as store:
        first = _exchange(store, "alpha question", "alpha answer")
        second = _exchange(store, "beta question", "alpha too")
        assert [s.id for s in store.search("alpha")] == [second, first]
        assert store.delete(second) is True
        assert store.delete(second) is False
        assert [s.id for s in store.search("alpha")] == [first]
        assert store.conversation(second) is None
    with sqlite3.connect(db) as raw:
        assert raw.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = ?", (second,)
        ).fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM exchanges").fetchone() == (1,)


def test_the_search_migration_indexes_an_existing_history(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    with Store(db) as store:
        old = _exchange(store, "an old question about timeouts", "answer")
        assert store.migrations == ["m001_initial"]
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store(db) as store:
        assert [s.id for s in store.search("timeouts")] == [old]


def test_the_unused_activity_index_is_dropped(db: Path) -> None:
    # Created by m001, never used by a query: m003 drops it from old and new databases.
    with Store(db):
        pass
    raw = sqlite3.connect(db)
    try:
        indexes = {
            row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    finally:
        raw.close()
    assert "conversations_by_update" not in indexes
    assert {"messages_by_conversation", "exchanges_by_conversation"} <= indexes
