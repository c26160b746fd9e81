"""``acytoo serve`` as a click command: help, option checking, light import."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from acytoo.cli.serve import serve

OPTIONS = [
    "--host",
    "--port",
    "--backend",
    "--upstream-url",
    "--upstream-key",
    "--key-selection",
    "--model-default",
    "--allow-model",
    "--model-alias",
    "--password",
    "--api-key",
    "--allow-client-keys",
    "--no-client-keys",
    "--max-body",
    "--max-messages",
    "--rate-limit",
    "--grace-period",
    "--log-level",
    "--no-web",
]


def test_help_documents_every_option() -> None:
    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0
    for option in OPTIONS:
        assert option in result.output
    assert "127.0.0.1" in result.output
    assert "ACYTOO_SERVER_PASSWORD" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rate-limit", "fast"], "invalid rate limit"),
        (["--backend", "openai"], "needs --upstream-url"),
        (["--backend", "local", "--upstream-url", "http://x"], "takes no --upstream-url"),
        (["--max-body", "lots"], "is not a size"),
        (["--port", "70000"], "70000"),
        (["--backend", "gpt"], "gpt"),
        (["--model-alias", "fast"], "is not NAME=MODEL"),
        (["--model-alias", "=gpt-4o"], "is not NAME=MODEL"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], words: str) -> None:
    result = CliRunner().invoke(serve, args)
    assert result.exit_code == 2
    assert words in result.output


def test_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(serve, ["--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_importing_the_command_does_not_import_the_server() -> None:
    code = (
        "import sys, acytoo.cli.serve; "
        "heavy = [m for m in ('aiohttp', 'aiohttp.web', 'acytoo.server') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
