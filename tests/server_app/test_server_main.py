"""``python -m acytoo.server``: argparse over the options ``acytoo serve`` also uses.

The two parsers are built from one table; these tests hold them to the same
values for the same flags and environment, and check the server front end
runs without click.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from acytoo._serve_options import SERVE_OPTIONS
from acytoo.cli.serve import serve as click_serve
from acytoo.server.__main__ import parse_options

ENVIRONMENT = [option.env for option in SERVE_OPTIONS if option.env]


@pytest.fixture(autouse=True)
def no_server_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def click_values(args: list[str]) -> dict[str, Any]:
    with click_serve.make_context("serve", list(args)) as ctx:
        return dict(ctx.params)


ARGUMENTS = [
    [],
    ["--host", "0.0.0.0", "--port", "0", "--backend", "OpenAI", "--upstream-url", "http://a/v1"],
    ["--upstream-url", "http://a/v1", "--upstream-url", "http://b/v1", "--shuffle"],
    ["--no-client-keys", "--no-web", "--no-access-log", "--metrics-public", "--redis-required"],
    ["--max-body", "512KiB", "--max-messages", "3", "--grace-period", "0.5"],
    ["--model-alias", "fast=gpt-4o-mini", "--model-alias", " big = gpt-4o ", "--allow-model", "x"],
    ["--log-level", "DEBUG", "--log-format", "json", "--workers", "auto", "--ipv6-prefix", "48"],
    ["--header-timeout", "1.5", "--body-timeout", "2", "--max-connections", "7"],
    ["--key-selection", "random", "--upstream-key", "k1", "--upstream-key", "k2"],
]


@pytest.mark.parametrize("args", ARGUMENTS)
def test_both_parsers_agree(args: list[str]) -> None:
    assert parse_options(args) == click_values(args)


def test_both_parsers_read_the_same_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACYTOO_SERVER_BACKEND", "openai")
    monkeypatch.setenv("ACYTOO_UPSTREAM_URL", "http://a/v1 http://b/v1")
    monkeypatch.setenv("ACYTOO_UPSTREAM_KEY", "k1 k2")
    monkeypatch.setenv("ACYTOO_SERVER_PASSWORD", "s3cret")
    monkeypatch.setenv("ACYTOO_SERVER_MODEL", "gpt-4o")
    monkeypatch.setenv("ACYTOO_REDIS_URL", "redis://127.0.0.1:1")
    values = parse_options([])
    assert values == click_values([])
    assert values["upstream_url"] == ("http://a/v1", "http://b/v1")
    assert values["password"] == "s3cret"
    # A flag given on the command line wins over the environment, in both.
    args = ["--upstream-url", "http://c/v1"]
    assert parse_options(args)["upstream_url"] == ("http://c/v1",)
    assert parse_options(args) == click_values(args)


def test_every_option_of_the_table_is_a_flag_of_both() -> None:
    names = {name for param in click_serve.params for name in param.opts + param.secondary_opts}
    for option in SERVE_OPTIONS:
        assert option.name in names
        if option.off:
            assert option.off in names


def run_module(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
    return subprocess.run(
        [sys.executable, "-m", "acytoo.server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "70000"),
        (["--backend", "gpt"], "'gpt' is not one of local, openai, acytoo"),
        (["--max-body", "lots"], "is not a size"),
        (["--model-alias", "fast"], "is not NAME=MODEL"),
        (["--rate-limit", "fast"], "invalid rate limit"),
        (["--backend", "openai"], "needs --upstream-url"),
        (["--header-timeout", "0"], "--header-timeout"),
        (["--workers", "many"], "--workers"),
    ],
)
def test_bad_options_are_one_clear_usage_error(args: list[str], words: str) -> None:
    result = run_module(*args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_module("--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_option() -> None:
    result = run_module("--help")
    assert result.returncode == 0
    for option in SERVE_OPTIONS:
        assert option.name in result.stdout


def test_the_server_front_end_never_imports_click() -> None:
    # Parse and build a config the way `python -m acytoo.server` does, then look.
    code = (
        "import sys\n"
        "from acytoo.server.__main__ import parse_options\n"
        "from acytoo._serve_options import config_from_options\n"
        "config_from_options(parse_options(['--port', '0', '--no-web']))\n"
        "loaded = [m for m in ('click', 'acytoo.cli') if m in sys.modules]\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
