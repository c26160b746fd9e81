"""``acytoo logs`` on edges: bad ids, an empty or unreadable history, sparse exchanges."""

from __future__ import annotations

from acytoo.cli.logs import _local_time, markdown
from acytoo.store import Store

from .conftest import CLI, single_line


def test_negative_count_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("logs", "-n", "-1")
    assert result.returncode == 2
    assert "must be 0 or more" in result.stderr
    assert result.stdout == ""


def test_show_without_a_database_says_there_is_nothing(cli: CLI) -> None:
    result = cli.run("logs", "show", "1")
    assert result.returncode == 2
    assert "there are no conversations yet" in single_line(result.stderr)
    assert not cli.db_path.exists()  # reading never creates the database


def test_latest_in_an_empty_database_is_a_usage_error(cli: CLI) -> None:
    Store(cli.db_path).close()
    result = cli.run("logs", "export", "latest")
    assert result.returncode == 2
    assert "there are no conversations yet" in single_line(result.stderr)


def test_an_id_that_is_not_a_number_is_rejected(cli: CLI) -> None:
    with Store(cli.db_path) as store:
        store.new_conversation()
    result = cli.run("logs", "show", "first")
    assert result.returncode == 2
    assert "'first' is not a conversation id" in result.stderr
    assert result.stdout == ""


def test_an_unreadable_database_is_one_clear_line(cli: CLI) -> None:
    cli.db_path.mkdir(parents=True)  # a directory where the file should be
    result = cli.run("logs")
    assert result.returncode == 1
    line = single_line(result.stderr)
    assert "cannot open the history database" in line
    assert str(cli.db_path) in line
    assert "Traceback" not in result.stderr


def test_show_prints_sparse_exchanges_and_unanswered_questions(cli: CLI) -> None:
    with Store(cli.db_path) as store:
        conversation = store.new_conversation()
        # An answer without a URL or a first chunk: nothing invented for them.
        answered = store.start_exchange(
            conversation, "first question", model="m1", provider="p1", url=None
        )
        store.finish_exchange(answered, "first answer", first_chunk_ms=None, duration_ms=2500.0)
        # A failure before any answer: the question shows why it went unanswered.
        failed = store.start_exchange(
            conversation, "second question", model="m2", provider="p2", url="http://127.0.0.1:9/v1"
        )
        store.finish_exchange(failed, "", first_chunk_ms=None, duration_ms=10.0, error="refused")
    result = cli.run("logs", "show", str(conversation))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Conversation {conversation} · started ")
    assert lines[0].endswith(" · 3 messages")
    header = next(line for line in lines if line.startswith("── assistant"))
    assert header.endswith(" · m1 via p1 · 2.5 s")
    assert "first chunk" not in header
    assert "http" not in header
    assert lines[-2:] == ["second question", "[no answer: refused]"]
    assert result.stdout.count("[no answer:") == 1


def test_markdown_without_model_or_provider_and_with_an_incomplete_answer() -> None:
    data = {
        "id": 7,
        "created_at": "2026-12-03T10:00:00.000+00:00",
        "model": None,
        "provider": "",
        "messages": [
            {"role": "user", "content": "why?\n"},
            {"role": "assistant", "content": "because", "incomplete": True},
        ],
    }
    assert markdown(data) == (
        "# Conversation 7\n\nstarted 2026-12-03T10:00:00.000+00:00\n\n"
        "## User\n\nwhy?\n\n## Assistant (incomplete)\n\nbecause\n"
    )


def test_a_timestamp_that_is_not_iso_is_shown_as_written() -> None:
    assert _local_time("yesterday") == "yesterday"
    assert _local_time("") == ""
    # A valid one is converted (to the local zone, so only its shape is fixed).
    assert len(_local_time("2026-12-03T10:00:00+00:00", seconds=True)) == len("2026-12-03 10:00:00")
