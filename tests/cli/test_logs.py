"""``acytoo logs -q``, ``logs rm``, ``logs export`` and output into a closed pipe."""

from __future__ import annotations

import json
import subprocess

from .conftest import ACYTOO, CLI, RUN_TIMEOUT, single_line


def _history(cli: CLI, *questions: str) -> None:
    for question in questions:
        assert cli.run("chat", question).returncode == 0


def test_logs_query_lists_only_matching_conversations(cli: CLI) -> None:
    _history(cli, "How do I use a SOCKS proxy?", "what does exit code 3 mean", "rate limit")
    found = cli.run("logs", "-q", "SOCKS")
    assert found.returncode == 0, found.stderr
    line = single_line(found.stdout)
    assert line.split()[0] == "1"
    assert "How do I use a SOCKS proxy?" in line
    # Answers are searched too: the exit-code answer mentions "proxy failure".
    ids = [row.split()[0] for row in cli.run("logs", "--query", "proxy").stdout.splitlines()]
    assert {"1", "2"} <= set(ids)
    exported = json.loads(cli.run("logs", "-q", "rate", "--json").stdout)
    assert [conversation["id"] for conversation in exported] == [3]
    nothing = cli.run("logs", "-q", "zebra")
    assert nothing.returncode == 0
    assert nothing.stdout == ""
    assert "No conversation matches 'zebra'" in nothing.stderr


def test_logs_rm_deletes_a_conversation(cli: CLI) -> None:
    _history(cli, "aardvark question", "zebra question")
    removed = cli.run("logs", "rm", "1")
    assert removed.returncode == 0, removed.stderr
    assert single_line(removed.stderr) == "Deleted conversation 1."
    assert [row.split()[0] for row in cli.run("logs").stdout.splitlines()] == ["2"]
    assert cli.rows("SELECT count(*) FROM messages WHERE conversation_id = 1") == [(0,)]
    assert cli.run("logs", "-q", "aardvark").stdout == ""
    again = cli.run("logs", "rm", "1")
    assert again.returncode == 2
    assert "no conversation 1" in single_line(again.stderr)
    assert cli.run("logs", "rm", "latest").returncode == 0
    assert cli.run("logs").stdout == ""


def test_logs_export_as_markdown_and_json(cli: CLI) -> None:
    _history(cli, "rate limit")
    markdown = cli.run("logs", "export", "1")
    assert markdown.returncode == 0, markdown.stderr
    text = markdown.stdout
    assert text.startswith("# Conversation 1\n")
    assert "model `acytoo-docs-offline`, via local" in text
    assert "## User\n\nrate limit\n" in text
    assert "## Assistant\n\n### Rate limiting\n" in text
    assert cli.run("logs", "export", "latest", "--format", "markdown").stdout == text
    data = json.loads(cli.run("logs", "export", "1", "--format", "json").stdout)
    assert data == json.loads(cli.run("logs", "show", "1", "--json").stdout)
    assert cli.run("logs", "export", "1", "--format", "html").returncode == 2
    assert cli.run("logs", "export", "9").returncode == 2


def _into_closed_pipe(cli: CLI, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``acytoo *args`` with stdout a pipe whose reader leaves after one byte."""
    process = subprocess.Popen(
        [*ACYTOO, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.read(1)
    process.stdout.close()  # `| head -c 1`
    stderr = process.stderr.read()
    process.stderr.close()
    code = process.wait(timeout=RUN_TIMEOUT)
    return subprocess.CompletedProcess(process.args, code, first, stderr)


def test_output_into_a_closed_pipe_ends_quietly(cli: CLI) -> None:
    # Far more output than a pipe holds, so the reader leaving breaks it.
    from acytoo.store import Store

    with Store(cli.db_path) as store:
        for number in range(1500):
            conversation = store.new_conversation()
            exchange = store.start_exchange(
                conversation, f"question {number} " * 8, model="m", provider="local", url=None
            )
            store.finish_exchange(exchange, "answer " * 100, first_chunk_ms=1, duration_ms=2)
    # Line by line: the reader is gone before most lines are written.
    for args in (("logs", "-n", "0"), ("logs", "-q", "answer", "-n", "0")):
        result = _into_closed_pipe(cli, *args)
        assert result.stdout, args
        assert result.stderr == b"", (args, result.stderr)
        assert result.returncode == 141, (args, result.returncode)
