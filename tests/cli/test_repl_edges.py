"""The interactive session on edges: every form of each /command, blank lines, output to a file."""

from __future__ import annotations

import shlex
import time

import pexpect

from servers.acytoo_server import AcytooTestServer, Reply

from . import test_repl
from .conftest import ACYTOO, CLI
from .test_repl import PROMPT, TIMEOUT, Spawn, command

spawn = test_repl.spawn  # the pseudo-terminal session fixture, shared


def test_commands_without_arguments_show_and_dash_clears(cli: CLI, spawn: Spawn) -> None:
    child = spawn("--provider", "local")
    # A blank line sends nothing and asks again.
    child.send("   \r")
    child.expect(PROMPT)
    command(child, "/system", "No system prompt.")
    command(child, "/system Answer in French.", "System prompt set.")
    command(child, "/system", "System prompt: Answer in French.")
    command(child, "/system -", "System prompt cleared.")
    command(child, "/system", "No system prompt.")
    command(child, "/model", "Model: acytoo-docs-offline")
    command(child, "/model other", "Model: other")
    command(child, "/MODEL", "Model: other")
    command(child, "/help", "/exit          leave (Ctrl-D too)")
    child.send("/quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # Nothing was asked, so nothing was stored.
    assert not cli.db_path.exists() or cli.rows("SELECT count(*) FROM messages") == [(0,)]


def test_session_with_output_to_a_file_starts_each_prompt_on_its_own_line(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    # Typed on a terminal, read from a file: plain text, no Markdown rendering.
    threaded_acytoo_server.reply(Reply(chunks=[b"a **bold** answer", b" without a newline"]))
    out = cli.home / "out.txt"
    acytoo = shlex.join([*ACYTOO, "chat", "--url", threaded_acytoo_server.url])
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f"{acytoo} > {shlex.quote(str(out))}"],
        env={**cli.env, "TERM": "xterm", "NO_COLOR": "1", "PROMPT_TOOLKIT_NO_CPR": "1"},
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    try:
        child.send("hello\r")
        # Bounded wait for the answer to reach the file (the screen shows nothing).
        deadline = time.monotonic() + TIMEOUT
        while "without a newline" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    text = out.read_text()
    answer = "a **bold** answer without a newline"
    assert answer in text  # the Markdown as written, not rendered
    after = text[text.index(answer) + len(answer) :]
    assert after.startswith("\n")  # added by the session, not by the service
    assert after.lstrip("\n").startswith(">")
