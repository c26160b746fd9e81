"""The interactive ``acytoo chat`` session, driven through a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator

import pexpect
import pyte
import pytest

from servers.acytoo_server import AcytooTestServer, Reply

from .conftest import ACYTOO, CLI

# Bounded waits: generous for two noisy cores, never open-ended.
TIMEOUT = 30
PROMPT = ">"
CTRL_C = "\x03"
ESC_ENTER = "\x1b\r"
Spawn = Callable[..., pexpect.spawn]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def spawn(cli: CLI) -> Iterator[Spawn]:
    children: list[pexpect.spawn] = []

    def start(*args: str) -> pexpect.spawn:
        env = {
            **cli.env,
            "TERM": "xterm",
            "NO_COLOR": "1",
            # pexpect does not answer cursor-position requests.
            "PROMPT_TOOLKIT_NO_CPR": "1",
        }
        child = pexpect.spawn(
            ACYTOO[0],
            [*ACYTOO[1:], "chat", *args],
            env=env,
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(40, 120),
        )
        children.append(child)
        child.expect("Ctrl-D exits")
        child.banner = child.before
        child.expect(PROMPT)
        return child

    yield start
    for child in children:
        child.close(force=True)


def ask(child: pexpect.spawn, text: str, answer: str) -> None:
    child.send(text + "\r")
    child.expect(re.escape(answer))
    child.expect(PROMPT)


def command(child: pexpect.spawn, text: str, reply: str) -> None:
    child.send(text + "\r")
    child.expect(re.escape(reply))
    child.expect(PROMPT)


def exit_with_ctrl_d(child: pexpect.spawn) -> int:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus


def bodies(server: AcytooTestServer) -> list[dict[str, object]]:
    return [json.loads(request.body) for request in server.requests]


def test_session_sends_the_whole_conversation_and_obeys_commands(
    cli: CLI, spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    server = threaded_acytoo_server
    server.reply(Reply(chunks=[b"answer-one"]), Reply(chunks=[b"answer-two"]))
    child = spawn("--url", server.url)
    ask(child, "first question", "answer-one")
    command(child, "/system Be brief.", "System prompt set.")
    command(child, "/model other-model", "Model: other-model")
    ask(child, "second question", "answer-two")
    command(child, "/new", "New conversation.")
    ask(child, "third question", "Hello")
    command(child, "/bogus", "unknown command /bogus")
    assert exit_with_ctrl_d(child) == 0

    first, second, third = bodies(server)
    assert first["messages"] == [{"role": "user", "content": "first question"}]
    assert second["model"] == "other-model"
    assert second["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "answer-one"},
        {"role": "user", "content": "second question"},
    ]
    # /new forgets the history but keeps the system prompt.
    assert third["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "third question"},
    ]
    assert cli.rows("SELECT conversation_id, model FROM exchanges ORDER BY id") == [
        (1, "gpt-3.5-turbo"),
        (1, "other-model"),
        (2, "other-model"),
    ]


def test_ctrl_c_stops_the_answer_keeps_it_and_returns_to_the_prompt(
    cli: CLI, spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    server = threaded_acytoo_server
    # The answer starts, then the server holds the stream open until the
    # client goes away: only Ctrl-C can end it.
    server.reply(Reply(chunks=[b"partial-words "], ending="hold"), Reply(chunks=[b"after"]))
    child = spawn("--url", server.url)
    child.send("tell me a long story\r")
    child.expect("partial-words")
    child.send(CTRL_C)
    child.expect(re.escape("[interrupted]"))
    child.expect(PROMPT)
    server.wait_disconnected_threadsafe(TIMEOUT)
    # The session goes on, and the partial answer is part of the history.
    ask(child, "go on", "after")
    assert exit_with_ctrl_d(child) == 0

    assert bodies(server)[1]["messages"] == [
        {"role": "user", "content": "tell me a long story"},
        {"role": "assistant", "content": "partial-words "},
        {"role": "user", "content": "go on"},
    ]
    assert cli.rows("SELECT error, incomplete FROM exchanges ORDER BY id") == [
        ("interrupted", 1),
        (None, 0),
    ]
    assert cli.rows("SELECT role, content, incomplete FROM messages ORDER BY id") == [
        ("user", "tell me a long story", 0),
        ("assistant", "partial-words ", 1),
        ("user", "go on", 0),
        ("assistant", "after", 0),
    ]


def test_ctrl_c_shows_the_partial_answer_once(
    cli: CLI, spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    # What a person sees: the output replayed on a terminal emulator.
    server = threaded_acytoo_server
    server.reply(Reply(chunks=[b"partial-words "], ending="hold"))
    child = spawn("--url", server.url)
    seen = io.StringIO()
    child.logfile_read = seen
    child.send("tell me a long story\r")
    child.expect("partial-words")
    child.send(CTRL_C)
    child.expect(re.escape("[interrupted]"))
    child.expect(PROMPT)
    screen = pyte.Screen(120, 40)
    pyte.Stream(screen).feed(seen.getvalue())
    lines = [line.rstrip() for line in screen.display]
    assert sum("partial-words" in line for line in lines) == 1, lines
    assert not any("^C" in line for line in lines), lines
    assert exit_with_ctrl_d(child) == 0


def test_ctrl_c_at_the_prompt_clears_the_line(
    spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    child = spawn("--url", threaded_acytoo_server.url)
    child.send("never sent")
    child.send(CTRL_C)
    child.expect(PROMPT)
    ask(child, "sent", "Hello")
    assert exit_with_ctrl_d(child) == 0
    assert [b["messages"] for b in bodies(threaded_acytoo_server)] == [
        [{"role": "user", "content": "sent"}]
    ]


def test_multi_line_input_and_exit_command(
    spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    child = spawn("--url", threaded_acytoo_server.url)
    child.send("line one" + ESC_ENTER + "line two\r")
    child.expect("Hello")
    child.expect(PROMPT)
    child.send("/exit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert bodies(threaded_acytoo_server)[0]["messages"] == [
        {"role": "user", "content": "line one\nline two"}
    ]


def test_continue_a_conversation_interactively(
    cli: CLI, spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    url = threaded_acytoo_server.url
    assert cli.run("chat", "--url", url, "-s", "kept system", "one-shot").returncode == 0
    child = spawn("--url", url, "-c")
    assert "continuing conversation 1 (2 messages)" in child.banner
    ask(child, "and now?", "Hello")
    assert exit_with_ctrl_d(child) == 0
    assert bodies(threaded_acytoo_server)[1]["messages"] == [
        {"role": "system", "content": "kept system"},
        {"role": "user", "content": "one-shot"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "and now?"},
    ]
    assert cli.rows("SELECT count(*) FROM conversations") == [(1,)]


def test_errors_in_the_session_are_one_line_and_the_session_goes_on(
    spawn: Spawn, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(status=401, chunks=[b'{"msg":"wrong password"}']))
    child = spawn("--url", threaded_acytoo_server.url)
    child.send("hello\r")
    child.expect("acytoo: error: wrong password")
    child.expect(PROMPT)
    ask(child, "again", "Hello")
    assert exit_with_ctrl_d(child) == 0
    # The failed question is stored but not sent again as history.
    assert bodies(threaded_acytoo_server)[1]["messages"] == [{"role": "user", "content": "again"}]


def test_offline_session(spawn: Spawn) -> None:
    child = spawn("--provider", "local")
    ask(child, "hello", "offline assistant")
    assert exit_with_ctrl_d(child) == 0


# --- one-shot output on a terminal --------------------------------------------------------


def _one_shot_on_a_terminal(cli: CLI, *args: str) -> pexpect.spawn:
    env = {**cli.env, "TERM": "xterm", "NO_COLOR": "1"}
    return pexpect.spawn(
        ACYTOO[0],
        [*ACYTOO[1:], "chat", *args],
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 120),
    )


def test_terminal_output_is_rendered_markdown(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(
        Reply(chunks=[b"Some **bold** words\n\n", b"- item one\n", b"- item two\n"])
    )
    child = _one_shot_on_a_terminal(cli, "--url", threaded_acytoo_server.url, "q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    screen = ANSI.sub("", child.before)
    assert "Some bold words" in screen
    assert "**" not in screen
    assert "• item one" in screen
    assert "• item two" in screen
    # What is stored is the text as received, not the rendering.
    assert cli.rows("SELECT content FROM messages WHERE role = 'assistant'") == [
        ("Some **bold** words\n\n- item one\n- item two\n",)
    ]


def test_terminal_shows_a_spinner_until_the_first_chunk(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[], ending="hold"))
    child = _one_shot_on_a_terminal(cli, "--url", threaded_acytoo_server.url, "q")
    try:
        child.expect("thinking")
    finally:
        threaded_acytoo_server.release()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_session_with_no_log_writes_nothing(cli: CLI, spawn: Spawn) -> None:
    child = spawn("--provider", "local", "--no-log")
    ask(child, "hello", "offline assistant")
    assert exit_with_ctrl_d(child) == 0
    assert not cli.db_path.exists()
