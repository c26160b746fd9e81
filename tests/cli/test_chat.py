"""``acytoo chat`` one-shot and piped, through the real entry point, against local servers."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import DEFAULT_ANSWER, OpenAIUpstream

from .conftest import ACYTOO, CLI, single_line


def received(server: AcytooTestServer, index: int = -1) -> dict[str, object]:
    body = json.loads(server.requests[index].body)
    assert isinstance(body, dict)
    return body


# --- the offline assistant --------------------------------------------------------------


def test_nothing_configured_falls_back_to_the_offline_assistant_and_says_so_once(
    cli: CLI,
) -> None:
    result = cli.run("chat", "How do I use a SOCKS proxy?")
    assert result.returncode == 0, result.stderr
    assert "Sources:" in result.stdout
    assert "acytoo:" not in result.stdout  # notices never go to stdout
    notice = single_line(result.stderr)
    assert "offline assistant" in notice
    assert "acytoo-docs-offline" in notice
    assert cli.rows("SELECT provider, model, url, incomplete FROM exchanges") == [
        ("local", "acytoo-docs-offline", None, 0)
    ]


def test_explicit_local_provider_needs_no_notice(cli: CLI) -> None:
    result = cli.run("chat", "--provider", "local", "hello")
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("Hello!")


def test_plain_output_is_exactly_the_answer(cli: CLI) -> None:
    # What the offline assistant says, streamed, equals the stored answer byte for byte.
    result = cli.run("chat", "--provider", "local", "where is my chat history stored?")
    assert result.returncode == 0
    [(answer,)] = cli.rows("SELECT content FROM messages WHERE role = 'assistant'")
    assert result.stdout == answer


# --- an Acytoo-protocol server ----------------------------------------------------------


def test_streams_from_an_acytoo_server_exactly_as_received(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"Hel", b"lo, w\xc3", b"\xb6rld", b"!\n"]))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "-t", "0.3", "Hi there")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, wörld!\n"
    assert result.stderr == ""
    body = received(threaded_acytoo_server)
    assert body["messages"] == [{"role": "user", "content": "Hi there"}]
    assert body["temperature"] == 0.3
    assert body["model"] == "gpt-3.5-turbo"
    assert threaded_acytoo_server.requests[-1].path == "/api/completions"


def test_history_row_has_timings_and_url_without_credentials(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    url = threaded_acytoo_server.url.replace("http://", "http://user:pw-in-url@") + "/?t=tok"
    result = cli.run("chat", "--url", url, "question")
    assert result.returncode == 0, result.stderr
    [(provider, model, stored_url, first, duration, error, incomplete)] = cli.rows(
        "SELECT provider, model, url, first_chunk_ms, duration_ms, error, incomplete FROM exchanges"
    )
    assert (provider, model, error, incomplete) == ("acytoo", "gpt-3.5-turbo", None, 0)
    assert stored_url == threaded_acytoo_server.url + "/"
    assert 0 <= first <= duration
    assert cli.rows("SELECT role, content, incomplete FROM messages ORDER BY id") == [
        ("user", "question", 0),
        ("assistant", "Hello", 0),
    ]
    assert b"pw-in-url" not in cli.db_bytes()
    assert b"tok" not in cli.db_bytes()


def test_piped_stdin_is_appended_to_the_prompt(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new ✓\n"
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "review this", input=diff)
    assert result.returncode == 0, result.stderr
    assert received(threaded_acytoo_server)["messages"] == [
        {"role": "user", "content": f"review this\n\n{diff}"}
    ]


def test_piped_stdin_alone_is_the_prompt(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    result = cli.run("chat", "--url", threaded_acytoo_server.url, input="just stdin\n")
    assert result.returncode == 0, result.stderr
    assert received(threaded_acytoo_server)["messages"] == [
        {"role": "user", "content": "just stdin\n"}
    ]


def test_empty_stdin_and_no_prompt_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("chat", input="")
    assert result.returncode == 2
    assert "no prompt" in single_line(result.stderr)


def test_system_model_and_options_reach_the_server(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    result = cli.run(
        "chat",
        "--url",
        threaded_acytoo_server.url,
        "-s",
        "Be brief.",
        "-m",
        "gpt-4o",
        "several words of prompt",
    )
    assert result.returncode == 0, result.stderr
    body = received(threaded_acytoo_server)
    assert body["model"] == "gpt-4o"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "several words of prompt"},
    ]


def test_no_stream_prints_the_same_text(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"one ", b"two"]))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "--no-stream", "q")
    assert result.returncode == 0
    assert result.stdout == "one two"


def test_json_output_is_one_object(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"one ", b"two"]))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "--json", "q")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["text"] == "one two"
    assert payload["model"] == "gpt-3.5-turbo"
    assert payload["provider"] == "acytoo"
    assert payload["complete"] is True
    assert payload["error"] is None
    assert payload["conversation_id"] == cli.rows("SELECT id FROM conversations")[0][0]
    assert 0 <= payload["timings"]["first_chunk_ms"] <= payload["timings"]["duration_ms"]


def test_continue_and_cid_send_the_conversation_so_far(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    url = threaded_acytoo_server.url
    threaded_acytoo_server.reply(
        Reply(chunks=[b"A1"]), Reply(chunks=[b"B1"]), Reply(chunks=[b"A2"]), Reply(chunks=[b"B2"])
    )
    assert cli.run("chat", "--url", url, "-s", "sys A", "-m", "model-a", "qA1").returncode == 0
    assert cli.run("chat", "--url", url, "qB1").returncode == 0
    # -c: the latest conversation (B), with its model unless -m says otherwise.
    assert cli.run("chat", "--url", url, "-c", "qB2").returncode == 0
    body = received(threaded_acytoo_server)
    assert body["messages"] == [
        {"role": "user", "content": "qB1"},
        {"role": "assistant", "content": "B1"},
        {"role": "user", "content": "qB2"},
    ]
    # --cid: conversation A keeps its system prompt and model.
    [(first_id,)] = cli.rows("SELECT min(id) FROM conversations")
    assert cli.run("chat", "--url", url, "--cid", str(first_id), "qA2").returncode == 0
    body = received(threaded_acytoo_server)
    assert body["model"] == "model-a"
    assert body["messages"] == [
        {"role": "system", "content": "sys A"},
        {"role": "user", "content": "qA1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "qA2"},
    ]
    assert cli.rows("SELECT count(*) FROM conversations") == [(2,)]


def test_unknown_cid_and_nothing_to_continue_are_usage_errors(cli: CLI) -> None:
    result = cli.run("chat", "-c", "hello")
    assert result.returncode == 2
    assert "no conversation to continue" in single_line(result.stderr)
    assert cli.run("chat", "--provider", "local", "hi").returncode == 0
    result = cli.run("chat", "--cid", "999", "hello")
    assert result.returncode == 2
    assert "no conversation 999" in single_line(result.stderr)


def test_no_log_writes_nothing(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "--no-log", "private")
    assert result.returncode == 0
    assert result.stdout == "Hello"
    assert not cli.db_path.exists()


def test_secrets_are_sent_but_never_shown_or_stored(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(
        Reply(chunks=[b"fine"]),
        Reply(status=401, chunks=[b'{"msg":"No password or wrong password"}']),
    )
    env = {"ACYTOO_PASSWORD": "pass-SECRET-1", "ACYTOO_KEY": "key-SECRET-2"}
    ok = cli.run("chat", "--url", threaded_acytoo_server.url, "--json", "q", env=env)
    assert ok.returncode == 0, ok.stderr
    body = received(threaded_acytoo_server)
    assert (body["password"], body["key"]) == ("pass-SECRET-1", "key-SECRET-2")
    flag = cli.run("chat", "--url", threaded_acytoo_server.url, "--password", "flag-SECRET-3", "q2")
    assert flag.returncode == 4
    assert received(threaded_acytoo_server)["password"] == "flag-SECRET-3"
    for result in (ok, flag):
        assert "SECRET" not in result.stdout + result.stderr
    assert b"SECRET" not in cli.db_bytes()


# --- an OpenAI-compatible service -------------------------------------------------------


def test_openai_compatible_service(cli: CLI, threaded_openai_upstream: OpenAIUpstream) -> None:
    threaded_openai_upstream.api_keys = {"sk-local"}
    result = cli.run(
        "chat",
        "--url",
        threaded_openai_upstream.base_url,  # ends in /v1: openai is assumed
        "-m",
        "gpt-4o-mini",
        "hello",
        env={"ACYTOO_KEY": "sk-local", "OPENAI_API_KEY": "sk-must-not-leak"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == DEFAULT_ANSWER
    [request] = threaded_openai_upstream.chat_requests
    assert request.authorization == "Bearer sk-local"
    assert request.json["model"] == "gpt-4o-mini"
    assert cli.rows("SELECT provider, model FROM exchanges") == [("openai", "gpt-4o-mini")]


def test_openai_key_from_the_environment_is_not_sent_to_a_named_url(
    cli: CLI, threaded_openai_upstream: OpenAIUpstream
) -> None:
    result = cli.run(
        "chat",
        "--provider",
        "openai",
        "--url",
        threaded_openai_upstream.base_url,
        "hi",
        env={"OPENAI_API_KEY": "sk-must-not-leak"},
    )
    assert result.returncode == 0, result.stderr
    assert threaded_openai_upstream.chat_requests[0].authorization is None


# --- where it sends ---------------------------------------------------------------------


def test_environment_then_config_file(
    cli: CLI, threaded_acytoo_server: AcytooTestServer, threaded_openai_upstream: OpenAIUpstream
) -> None:
    cli.config_path.parent.mkdir(parents=True)
    cli.config_path.write_text(
        f'provider = "openai"\nurl = "{threaded_openai_upstream.base_url}"\n'
        'model = "from-config"\nsystem = "config system"\n'
    )
    from_file = cli.run("chat", "q1")
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == DEFAULT_ANSWER
    assert threaded_openai_upstream.chat_requests[-1].json["model"] == "from-config"
    # The environment wins over the file, and flags over the environment.
    env = {"ACYTOO_URL": threaded_acytoo_server.url, "ACYTOO_PROVIDER": "acytoo"}
    from_env = cli.run("chat", "q2", env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert received(threaded_acytoo_server)["messages"] == [
        {"role": "system", "content": "config system"},
        {"role": "user", "content": "q2"},
    ]
    from_flag = cli.run("chat", "--provider", "local", "hello", env=env)
    assert from_flag.returncode == 0
    assert from_flag.stdout.startswith("Hello!")
    assert len(threaded_acytoo_server.requests) == 1


def test_bad_config_file_is_one_line(cli: CLI) -> None:
    cli.config_path.parent.mkdir(parents=True)
    cli.config_path.write_text('urll = "http://127.0.0.1:1"\n')
    result = cli.run("chat", "hi")
    assert result.returncode == 2
    assert "unknown key(s) urll" in single_line(result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "2.5"], "temperature"),
        (["-t", "nan"], "temperature"),
        (["--url", "ftp://example.test"], "invalid url"),
        (["--url", "http://"], "invalid url"),
        (["--url", "http://127.0.0.1:99999"], "invalid url"),
        (["--provider", "acytoo"], "needs a URL"),
        (["--provider", "nope"], "nope"),
        (["--timeout", "0"], "timeout"),
        (["--proxy", "gopher://x"], "invalid proxy"),
    ],
)
def test_invalid_input_is_a_one_line_usage_error(cli: CLI, args: list[str], message: str) -> None:
    result = cli.run("chat", *args, "hello")
    assert result.returncode == 2
    line = single_line(result.stderr)
    assert line.startswith("acytoo: error:")
    assert message in line
    assert result.stdout == ""


# --- errors and exit codes --------------------------------------------------------------


def test_cannot_connect_exits_3(cli: CLI, refused_port: int) -> None:
    url = f"http://user:pw-SECRET@127.0.0.1:{refused_port}"
    result = cli.run("chat", "--url", url, "hello")
    assert result.returncode == 3
    assert "cannot connect" in single_line(result.stderr)
    assert "SECRET" not in result.stderr
    assert b"SECRET" not in cli.db_bytes()
    # What the user typed is kept, with the error.
    assert cli.rows("SELECT role, content FROM messages") == [("user", "hello")]
    [(error, incomplete)] = cli.rows("SELECT error, incomplete FROM exchanges")
    assert "cannot connect" in error
    assert incomplete == 1


def test_http_error_status_exits_4_with_the_services_message(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(status=400, chunks=[b'{"msg":"Not supported model x"}']))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "-m", "x", "hello")
    assert result.returncode == 4
    line = single_line(result.stderr)
    assert "Not supported model x" in line
    assert "Traceback" not in result.stderr


def test_debug_adds_the_traceback(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(Reply(status=400, chunks=[b'{"msg":"nope"}']))
    result = cli.run("--debug", "chat", "--url", threaded_acytoo_server.url, "hello")
    assert result.returncode == 4
    assert "Traceback" in result.stderr


def test_answer_broken_mid_stream_exits_5_and_keeps_the_partial_answer(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"partial ", b"answer"], ending="abort"))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "hello")
    assert result.returncode == 5, result.stderr
    assert result.stdout == "partial answer"
    single_line(result.stderr)
    assert cli.rows("SELECT role, content, incomplete FROM messages ORDER BY id") == [
        ("user", "hello", 0),
        ("assistant", "partial answer", 1),
    ]
    [(error, incomplete)] = cli.rows("SELECT error, incomplete FROM exchanges")
    assert error
    assert incomplete == 1


def test_read_timeout_exits_3(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"slow"], ending="hold"))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "--timeout", "1", "hello")
    assert result.returncode == 3, result.stderr
    assert result.stdout == "slow"
    threaded_acytoo_server.release()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_in_one_shot_keeps_the_partial_answer(
    cli: CLI, threaded_acytoo_server: AcytooTestServer, signum: signal.Signals, code: int
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"partial "], ending="hold"))
    process = subprocess.Popen(
        [*ACYTOO, "chat", "--url", threaded_acytoo_server.url, "long story"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.env,
    )
    try:
        assert process.stdout is not None
        received_text = b""
        deadline = time.monotonic() + 30
        while b"partial " not in received_text and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                received_text += os.read(process.stdout.fileno(), 1024)
        assert received_text == b"partial "
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
    assert process.returncode == code
    assert "interrupted" in single_line(err.decode())
    threaded_acytoo_server.wait_disconnected_threadsafe(30)
    assert cli.rows("SELECT role, content, incomplete FROM messages ORDER BY id") == [
        ("user", "long story", 0),
        ("assistant", "partial ", 1),
    ]
    assert cli.rows("SELECT error FROM exchanges") == [("interrupted",)]


def test_unusable_history_database_is_one_line_and_no_log_still_works(
    cli: CLI, tmp_path: Path
) -> None:
    env = {"ACYTOO_DB": str(tmp_path)}  # a directory: SQLite cannot open it
    result = cli.run("chat", "--provider", "local", "hi", env=env)
    assert result.returncode == 1
    line = single_line(result.stderr)
    assert "cannot open the history database" in line
    assert "--no-log" in line
    assert result.stdout == ""
    no_log = cli.run("chat", "--provider", "local", "--no-log", "hi", env=env)
    assert no_log.returncode == 0
    assert no_log.stdout.startswith("Hello!")
