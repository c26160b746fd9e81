"""``acytoo logs``, ``acytoo models``, ``--version``, ``--help`` and what start-up imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import acytoo
from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream

from .conftest import ACYTOO, CLI, single_line


def test_version(cli: CLI) -> None:
    result = cli.run("--version")
    assert result.returncode == 0
    assert result.stdout == f"acytoo {acytoo.__version__}\n"


def test_help_lists_commands_and_documents_exit_codes(cli: CLI) -> None:
    result = cli.run("--help")
    assert result.returncode == 0
    for command in ("chat", "logs", "models", "serve"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    assert "Exit codes:" in result.stdout
    assert "130 interrupted" in result.stdout


def test_unknown_command_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("chatt")
    assert result.returncode == 2
    assert "chatt" in single_line(result.stderr)


def _imported_modules(cli: CLI, *args: str, stdin: str | None = None) -> set[str]:
    result = subprocess.run(
        [ACYTOO[0], "-X", "importtime", *ACYTOO[1:], *args],
        input=(stdin or "").encode(),
        capture_output=True,
        env=cli.env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.decode().splitlines()
    return {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("chat", "--help"),
        ("chat", "how do I use a proxy?"),
        ("chat", "--provider", "local", "--json", "hello"),
        ("logs",),
        ("models",),
    ],
)
def test_start_up_imports_nothing_heavy_it_does_not_use(cli: CLI, args: tuple[str, ...]) -> None:
    modules = _imported_modules(cli, *args)
    assert "click" in modules
    heavy = {m for m in modules if m.split(".")[0] in ("aiohttp", "rich", "prompt_toolkit", "yarl")}
    assert heavy == set()


def test_http_provider_imports_aiohttp_but_not_rich_when_piped(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    modules = _imported_modules(cli, "chat", "--url", threaded_acytoo_server.url, "hello")
    assert "aiohttp" in modules
    assert not {m for m in modules if m.split(".")[0] in ("rich", "prompt_toolkit")}


# --- models ---------------------------------------------------------------------------


def test_models_offline(cli: CLI) -> None:
    result = cli.run("models")
    assert result.returncode == 0
    assert result.stdout == "acytoo-docs-offline\n"


def test_models_of_an_openai_compatible_service(
    cli: CLI, threaded_openai_upstream: OpenAIUpstream
) -> None:
    threaded_openai_upstream.models = ("llama3.2", "qwen2.5")
    result = cli.run("models", "--url", threaded_openai_upstream.base_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "llama3.2\nqwen2.5\n"
    as_json = cli.run("models", "--json", "--url", threaded_openai_upstream.base_url)
    assert json.loads(as_json.stdout) == ["llama3.2", "qwen2.5"]
    assert threaded_openai_upstream.requests[-1].path == "/v1/models"


def test_models_http_error_exits_4(cli: CLI, threaded_openai_upstream: OpenAIUpstream) -> None:
    threaded_openai_upstream.api_keys = {"sk-right"}
    result = cli.run(
        "models", "--url", threaded_openai_upstream.base_url, env={"ACYTOO_KEY": "sk-wrong"}
    )
    assert result.returncode == 4
    line = single_line(result.stderr)
    assert "Incorrect API key" in line
    assert "sk-wrong" not in line


# --- logs -----------------------------------------------------------------------------


def test_logs_when_there_is_no_history(cli: CLI) -> None:
    result = cli.run("logs")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "No conversations yet" in result.stderr
    assert cli.run("logs", "--json").stdout == "[]\n"
    assert not cli.db_path.exists()


def test_logs_path(cli: CLI) -> None:
    result = cli.run("logs", "path")
    assert result.stdout == f"{cli.db_path}\n"


def test_logs_list_show_and_export(cli: CLI, threaded_acytoo_server: AcytooTestServer) -> None:
    url = threaded_acytoo_server.url
    threaded_acytoo_server.reply(
        Reply(chunks=[b"first answer"]),
        Reply(chunks=[b"second answer"]),
        Reply(chunks=[b"third answer"]),
    )
    assert (
        cli.run("chat", "--url", url, "-m", "m-one", "first   question\nwith lines").returncode == 0
    )
    assert cli.run("chat", "--url", url, "-m", "m-two", "-s", "be kind", "second q").returncode == 0
    assert cli.run("chat", "--url", url, "-c", "follow-up").returncode == 0

    listing = cli.run("logs")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 2
    # Newest first: id, time, model, first words (whitespace collapsed).
    assert re.match(r"^2  \d{4}-\d\d-\d\d \d\d:\d\d  m-two\s+second q$", lines[0]), lines[0]
    assert re.match(r"^1  .*  m-one\s+first question with lines$", lines[1]), lines[1]
    assert cli.run("logs", "-n", "1").stdout.splitlines() == lines[:1]

    shown = cli.run("logs", "show", "2")
    assert shown.returncode == 0
    for text in ("be kind", "second q", "second answer", "follow-up", "third answer", "m-two"):
        assert text in shown.stdout
    assert cli.run("logs", "show", "latest").stdout == shown.stdout

    exported = json.loads(cli.run("logs", "--json").stdout)
    assert [c["id"] for c in exported] == [2, 1]
    assert [(m["role"], m["content"]) for m in exported[0]["messages"]] == [
        ("system", "be kind"),
        ("user", "second q"),
        ("assistant", "second answer"),
        ("user", "follow-up"),
        ("assistant", "third answer"),
    ]
    assert exported[0]["exchanges"][0]["url"] == url
    one = json.loads(cli.run("logs", "show", "1", "--json").stdout)
    assert one == exported[1]


def test_logs_show_unknown_id(cli: CLI) -> None:
    assert cli.run("chat", "--provider", "local", "hi").returncode == 0
    result = cli.run("logs", "show", "42")
    assert result.returncode == 2
    assert "no conversation 42" in single_line(result.stderr)
    assert cli.run("logs", "show", "abc").returncode == 2


def test_logs_show_marks_incomplete_answers(
    cli: CLI, threaded_acytoo_server: AcytooTestServer
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"cut "], ending="abort"))
    assert cli.run("chat", "--url", threaded_acytoo_server.url, "hello").returncode == 5
    shown = cli.run("logs", "show", "latest").stdout
    assert "cut" in shown
    assert "[incomplete:" in shown


def test_python_dash_m_and_the_console_script_agree(cli: CLI) -> None:
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("acytoo")
    if not script.exists():
        found = shutil.which("acytoo")
        if found is None:
            pytest.skip("the acytoo console script is not installed")
        script = Path(found)
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=cli.env, timeout=60
    )
    assert result.stdout == cli.run("--version").stdout


# --- installed without the [cli] extra ------------------------------------------------


@pytest.mark.parametrize("args", [["chat", "hi"], ["--help"], []])
def test_without_the_cli_extra_one_line_says_what_to_install(cli: CLI, args: list[str]) -> None:
    # click made unimportable, as in an environment without the extra.
    code = (
        "import sys; sys.modules['click'] = None\n"
        f"from acytoo.cli import main; sys.argv[1:] = {args!r}; main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    line = single_line(result.stderr)
    assert line.startswith("acytoo: the command line needs the [cli] extra (click is missing)")
    assert "pip install -e '.[cli]'" in line
    assert f"acytoo-{acytoo.__version__}-py3-none-any.whl[cli]" in line
    assert result.stdout == ""


def test_the_offline_fallback_is_announced_once(cli: CLI, tmp_path: Path) -> None:
    first = cli.run("chat", "rate limit")
    assert first.returncode == 0
    assert "answering with the built-in offline assistant" in single_line(first.stderr)
    for args in (("chat", "rate limit"), ("chat", "--no-log", "timeout")):
        again = cli.run(*args)
        assert again.returncode == 0
        assert again.stderr == ""
    # It is remembered next to the history: another database directory hears it again.
    elsewhere = cli.run("chat", "hi", env={"ACYTOO_DB": str(tmp_path / "other" / "logs.db")})
    assert "offline assistant" in elsewhere.stderr


def test_shell_completion_scripts_and_completions(cli: CLI) -> None:
    script = cli.run(env={"_ACYTOO_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "_acytoo_completion()" in script.stdout
    for shell in ("zsh_source", "fish_source"):
        assert cli.run(env={"_ACYTOO_COMPLETE": shell}).stdout
    words = cli.run(
        env={"_ACYTOO_COMPLETE": "bash_complete", "COMP_WORDS": "acytoo logs ", "COMP_CWORD": "2"}
    )
    assert words.stdout.split() == ["plain,export", "plain,path", "plain,rm", "plain,show"]
