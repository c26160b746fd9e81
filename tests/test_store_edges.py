"""The history store on edges: no full-text index, bad ports, unknown exchanges, memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from acytoo.store import Store, public_url


def _exchange(store: Store, question: str, answer: str) -> int:
    conversation = store.new_conversation()
    exchange = store.start_exchange(conversation, question, model="m", provider="local", url=None)
    store.finish_exchange(exchange, answer, first_chunk_ms=1.0, duration_ms=2.0)
    return conversation


def test_search_without_the_full_text_index_matches_literal_substrings(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    with Store(db) as store:
        percent = _exchange(store, "is 100% of the quota used?", "yes")
        underscore = _exchange(store, "what is max_tokens", "a limit")
        plain = _exchange(store, "100 tokens or maxXtokens", "either")
        back = _exchange(store, r"a path C:\temp", "fine")
    # What a SQLite built without FTS5 leaves: the migration ran, no index exists.
    with sqlite3.connect(db) as raw:
        for trigger in ("insert", "delete", "update"):
            raw.execute(f"DROP TRIGGER IF EXISTS messages_fts_{trigger}")
        raw.execute("DROP TABLE messages_fts")
    with Store(db) as store:
        # % and _ are text, not LIKE wildcards; every word must match; case is ignored.
        assert [s.id for s in store.search("100%")] == [percent]
        assert [s.id for s in store.search("max_tokens")] == [underscore]
        assert [s.id for s in store.search("100 TOKENS")] == [plain]
        assert [s.id for s in store.search("100")] == [plain, percent]
        assert [s.id for s in store.search("C:\\temp")] == [back]
        assert [s.id for s in store.search("100", 1)] == [plain]
        assert store.search("zebra") == []
        # Substrings match here, unlike the whole words of the index.
        assert [s.id for s in store.search("quot")] == [percent]


def test_public_url_with_a_port_out_of_range_drops_the_port() -> None:
    assert public_url("http://user:pw@127.0.0.1:99999/v1?key=k") == "http://127.0.0.1/v1"
    assert public_url("http://[::1]:8080/x#frag") == "http://[::1]:8080/x"
    assert public_url("") is None


def test_finishing_an_unknown_exchange_is_a_key_error_and_writes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "logs.db") as store:
        conversation = store.new_conversation()
        with pytest.raises(KeyError):
            store.finish_exchange(42, "answer", first_chunk_ms=None, duration_ms=1.0)
        found = store.conversation(conversation)
        assert found is not None
        assert found.messages == []


def test_an_in_memory_store_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store(":memory:") as store:
        conversation = _exchange(store, "question", "answer")
        assert store.latest_conversation_id() == conversation
        assert [s.id for s in store.search("question")] == [conversation]
    assert list(tmp_path.iterdir()) == []
