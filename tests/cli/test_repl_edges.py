"""The interactive session on edges: every form of each /command, and blank lines."""

from __future__ import annotations

import pexpect

from . import test_repl
from .conftest import CLI
from .test_repl import PROMPT, Spawn, command

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
