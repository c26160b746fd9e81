"""The command line never shows the credentials of a URL; its environment-key rule is the server's."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from acytoo.cli.serve import serve
from servers.openai_upstream import OpenAIUpstream

from .conftest import CLI, single_line

SECRET = "cli-SECRET-7"


def test_error_line_does_not_show_url_credentials(cli: CLI, refused_port: int) -> None:
    url = f"http://someone:{SECRET}@127.0.0.1:{refused_port}"
    result = cli.run("chat", "--url", url, "hi")
    assert result.returncode == 3
    line = single_line(result.stderr)
    assert f"***@127.0.0.1:{refused_port}" in line
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("--url", f"http://someone:{SECRET}@127.0.0.1:99x/"),
        ("--url", f"ftp://someone:{SECRET}@127.0.0.1/"),
        ("--url", f"http://someone:{SECRET}/x@127.0.0.1/"),  # the "port" is the password
        ("ACYTOO_URL", f"http://someone:{SECRET}@127.0.0.1:99x/"),
        ("ACYTOO_PROXY", f"gopher://someone:{SECRET}@127.0.0.1:1080"),
        ("config", f"http://someone:{SECRET}@127.0.0.1:99x/"),
    ],
)
def test_config_validation_messages_do_not_show_url_credentials(
    cli: CLI, where: str, value: str
) -> None:
    env: dict[str, str] = {}
    args = ["chat"]
    if where == "--url":
        args += ["--url", value]
    elif where == "config":
        cli.config_path.parent.mkdir(parents=True)
        cli.config_path.write_text(f'url = "{value}"\n')
    else:
        env[where] = value
        if where == "ACYTOO_PROXY":
            args += ["--url", "http://127.0.0.1:9"]
    result = cli.run(*args, "hi", env=env)
    assert result.returncode == 2, result.stderr
    assert "invalid" in single_line(result.stderr)
    assert SECRET not in result.stdout + result.stderr


def test_openai_api_key_goes_to_its_paired_base_url(
    cli: CLI, threaded_openai_upstream: OpenAIUpstream
) -> None:
    # The server's rule too: OPENAI_API_KEY goes to OpenAI or OPENAI_BASE_URL's origin.
    env = {"OPENAI_API_KEY": "sk-paired", "OPENAI_BASE_URL": threaded_openai_upstream.base_url}
    result = cli.run("chat", "--url", threaded_openai_upstream.base_url, "hi", env=env)
    assert result.returncode == 0, result.stderr
    assert threaded_openai_upstream.chat_requests[0].authorization == "Bearer sk-paired"


def test_serve_upstream_password_option() -> None:
    help_text = CliRunner().invoke(serve, ["--help"]).output
    assert "--upstream-password" in help_text
    assert "ACYTOO_UPSTREAM_PASSWORD" in help_text
    result = CliRunner().invoke(serve, ["--upstream-password", "pw-SECRET"])
    assert result.exit_code == 2
    assert "takes no upstream password" in result.output
    assert "pw-SECRET" not in result.output
    result = CliRunner().invoke(
        serve,
        ["--backend", "openai", "--upstream-url", "http://127.0.0.1:1/v1"],
        env={"ACYTOO_UPSTREAM_PASSWORD": "pw-SECRET"},
    )
    assert result.exit_code == 2
    assert "takes no upstream password" in result.output


@pytest.mark.parametrize("url", [f"ftp://u:{SECRET}@127.0.0.1/v1", f"http://u:{SECRET}@h:99x/"])
def test_serve_checks_upstream_urls_at_start_without_showing_credentials(url: str) -> None:
    # At start-up, so that no client is ever told about a bad upstream URL.
    result = CliRunner().invoke(serve, ["--backend", "openai", "--upstream-url", url])
    assert result.exit_code == 2
    assert "--upstream-url" in result.output
    assert SECRET not in result.output
