"""``acytoo models`` asking the service, ``--max-retries``, ``--max-tokens``, ``-o``, ``--password``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream

from .conftest import CLI, single_line


@pytest.fixture
def acytoo_serve(cli: CLI) -> Iterator[tuple[str, str]]:
    """A real ``acytoo serve`` (offline backend, password ``pw``): its URL and password."""
    process = subprocess.Popen(
        [sys.executable, "-m", "acytoo", "serve", "--port", "0", "--no-access-log"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**cli.env, "ACYTOO_SERVER_PASSWORD": "pw"},
        text=True,
    )
    assert process.stderr is not None
    try:
        url = None
        for _ in range(50):  # bounded: the ready line comes first
            line = process.stderr.readline()
            match = re.search(r"listening on (http://\S+)", line)
            if match or not line:
                url = match[1] if match else None
                break
        assert url is not None, "acytoo serve did not start"
        yield url, "pw"
    finally:
        process.terminate()
        process.wait(timeout=60)
        process.stderr.close()


# -- acytoo models ------------------------------------------------------------------


def test_models_asks_an_acytoo_server(cli: CLI, acytoo_serve: tuple[str, str]) -> None:
    url, password = acytoo_serve
    listed = cli.run("models", "--url", url, "--password", password)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "acytoo-docs-offline\n"
    from_env = cli.run("models", "--json", env={"ACYTOO_URL": url, "ACYTOO_PASSWORD": password})
    assert json.loads(from_env.stdout) == ["acytoo-docs-offline"]
    refused = cli.run("models", "--url", url, "--password", "wrong")
    assert refused.returncode == 4
    assert "wrong" not in refused.stderr


def test_models_of_an_unreachable_server_exits_3(cli: CLI, refused_port: int) -> None:
    url = f"http://127.0.0.1:{refused_port}"
    result = cli.run("models", "--url", url, "--max-retries", "0")
    assert result.returncode == 3
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert "attempts" not in line
    retried = cli.run("models", "--url", url, "--max-retries", "1")
    assert retried.returncode == 3
    assert single_line(retried.stderr).endswith("(after 2 attempts)")


def test_models_says_when_a_server_has_no_model_list(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"Not Found"], status=404))
    result = cli.run("models", "--url", threaded_acytoo_server.url)
    assert result.returncode == 4
    assert result.stdout == ""
    assert "does not list its models" in single_line(result.stderr)
    assert threaded_acytoo_server.requests[0].path == "/v1/models"


# -- acytoo chat --------------------------------------------------------------------


def test_max_retries_bounds_the_attempts_and_the_error_counts_them(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(*(Reply(chunks=[b"busy"], status=503) for _ in range(5)))
    result = cli.run("chat", "--url", threaded_acytoo_server.url, "--max-retries", "1", "hi")
    assert result.returncode == 4
    assert single_line(result.stderr).endswith("(after 2 attempts)")
    assert len(threaded_acytoo_server.requests) == 2
    once = cli.run("chat", "--url", threaded_acytoo_server.url, "--max-retries", "0", "hi")
    assert once.returncode == 4
    assert "attempts" not in once.stderr
    assert len(threaded_acytoo_server.requests) == 3


def test_help_documents_the_worst_case(cli: CLI) -> None:
    text = " ".join(cli.run("chat", "--help").stdout.split())
    assert "--max-retries N" in text
    assert "(N+1) x --timeout" in text
    for option in ("--max-tokens N", "-o, --option NAME VALUE"):
        assert option in text


def test_password_is_the_bearer_key_of_an_openai_compatible_url(
    cli: CLI, threaded_openai_upstream: OpenAIUpstream
) -> None:
    threaded_openai_upstream.api_keys = {"pw"}
    url = threaded_openai_upstream.base_url
    result = cli.run("chat", "--url", url, "--password", "pw", "hi")
    assert result.returncode == 0, result.stderr
    assert threaded_openai_upstream.requests[-1].authorization == "Bearer pw"
    # A key, when given, is the one sent.
    keyed = cli.run("chat", "--url", url, "--password", "pw", "--key", "other", "hi")
    assert keyed.returncode == 4
    assert threaded_openai_upstream.requests[-1].authorization == "Bearer other"


def test_max_tokens_and_provider_options_reach_the_service(
    cli: CLI, threaded_openai_upstream: OpenAIUpstream
) -> None:
    url = threaded_openai_upstream.base_url
    result = cli.run("chat", "--url", url, "--max-tokens", "7", "-o", "temperature", "0.25", "hi")
    assert result.returncode == 0, result.stderr
    body = threaded_openai_upstream.chat_requests[-1].json
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.25
    unknown = cli.run("chat", "--url", url, "-o", "colour", "blue", "hi")
    assert unknown.returncode == 2
    assert "colour" in single_line(unknown.stderr)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--max-tokens", "5"], "--max-tokens needs an OpenAI-compatible service"),
        (["--max-tokens", "0"], "0"),
        (["-o", "api_key", "sk-1"], "use --key instead"),
        (["-o", "url", "http://x"], "use --url instead"),
        (["--max-retries", "-1"], "-1"),
    ],
)
def test_bad_options_are_usage_errors(cli: CLI, args: list[str], words: str) -> None:
    result = cli.run("chat", *args, "hi")
    assert result.returncode == 2
    assert words in result.stderr
    assert "sk-1" not in result.stderr


def test_piped_code_to_review_gets_a_plain_answer_offline(cli: CLI) -> None:
    diff = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-timeout = 1\n+proxy = 2\n"
    )
    result = cli.run("chat", "review this", input=diff)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("I can't review code: I'm acytoo's offline assistant")
    assert "acytoo chat --provider openai --url http://localhost:11434/v1" in result.stdout
    assert "Sources:" not in result.stdout
