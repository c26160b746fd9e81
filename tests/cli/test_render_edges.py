"""Terminal rendering on edges: --no-stream, and a terminal for output only."""

from __future__ import annotations

import shlex

import pexpect
import pyte

from servers.acytoo_server import AcytooTestServer, Reply

from .conftest import ACYTOO, CLI
from .test_repl import TIMEOUT


def _on_a_terminal(cli: CLI, command: str) -> str:
    """Run shell ``command`` on a pseudo-terminal; the screen it leaves, line by line."""
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", command],
        env={**cli.env, "TERM": "xterm", "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    screen = pyte.Screen(120, 40)
    pyte.Stream(screen).feed(child.before)
    return "\n".join(line.rstrip() for line in screen.display if line.strip())


def test_no_stream_on_a_terminal_renders_the_whole_answer_once(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"A **first** part\n\n", b"- then a list\n"]))
    acytoo = shlex.join([*ACYTOO, "chat", "--no-stream", "--url", threaded_acytoo_server.url])
    screen = _on_a_terminal(cli, f"{acytoo} q")
    assert "A first part" in screen
    assert "• then a list" in screen
    assert "**" not in screen
    assert screen.count("then a list") == 1
    assert cli.rows("SELECT content FROM messages WHERE role = 'assistant'") == [
        ("A **first** part\n\n- then a list\n",)
    ]


def test_prompt_piped_in_and_answer_on_a_terminal(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    # stdin is a pipe, so there is no terminal echo to silence; output is still rendered.
    threaded_acytoo_server.reply(Reply(chunks=[b"Piped **answer**\n"]))
    acytoo = shlex.join([*ACYTOO, "chat", "--url", threaded_acytoo_server.url])
    screen = _on_a_terminal(cli, f"printf 'from a pipe' | {acytoo}")
    assert "Piped answer" in screen
    assert "**" not in screen
    assert cli.rows("SELECT content FROM messages WHERE role = 'user'") == [("from a pipe",)]
