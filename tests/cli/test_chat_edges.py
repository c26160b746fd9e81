"""``acytoo chat`` on edges: conflicting flags, a history folder that cannot be written."""

from __future__ import annotations

from .conftest import CLI, single_line


def test_continue_and_cid_together_are_a_usage_error(cli: CLI) -> None:
    assert cli.run("chat", "--provider", "local", "first").returncode == 0
    result = cli.run("chat", "--provider", "local", "-c", "--cid", "1", "again")
    assert result.returncode == 2
    assert "use either -c/--continue or --cid, not both" in single_line(result.stderr)
    assert result.stdout == ""
    assert cli.rows("SELECT count(*) FROM messages") == [(2,)]  # nothing asked


def test_the_offline_notice_is_said_every_time_when_it_cannot_be_remembered(cli: CLI) -> None:
    # The history folder is a file: nowhere to note that the notice was shown.
    blocker = cli.home / "not-a-folder"
    blocker.write_text("")
    env = {"ACYTOO_DB": str(blocker / "logs.db")}
    for _ in range(2):
        result = cli.run("chat", "--no-log", "hello", env=env)
        assert result.returncode == 0, result.stderr
        assert "offline assistant" in result.stdout
        assert "answering with the built-in offline assistant" in single_line(result.stderr)
    assert blocker.read_text() == ""


def test_an_empty_prompt_on_stdin_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("chat", "--provider", "local", input="  \n\n")
    assert result.returncode == 2
    assert "no prompt: pass one as an argument or on stdin" in single_line(result.stderr)
