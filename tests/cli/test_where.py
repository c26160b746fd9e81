"""The where-to-send flags, declared once for ``chat`` and ``models``, and the one settings shape."""

from __future__ import annotations

from dataclasses import fields

import click
from click.testing import CliRunner

from acytoo.cli._where import where_options
from acytoo.cli.chat import chat
from acytoo.cli.config import Settings, Target, resolve
from acytoo.cli.models import models

WHERE = ["url", "provider", "proxy", "timeout", "key", "password", "max_retries"]


def _options(command: click.Command) -> list[str]:
    return [
        param.name for param in command.params if isinstance(param, click.Option) and param.name
    ]


def test_chat_and_models_take_the_same_where_to_send_flags() -> None:
    for command in (chat, models):
        names = _options(command)
        assert [name for name in names if name in WHERE] == WHERE
        shared = {param.name: param for param in command.params if param.name in WHERE}
        assert shared["timeout"].type.name == "float range"
        assert isinstance(shared["provider"].type, click.Choice)
    # chat's own model, system prompt and temperature go into the same settings.
    assert _options(chat)[:3] == ["system", "model", "temperature"]


def test_the_flags_reach_the_command_as_one_settings() -> None:
    received: list[tuple[Settings, int | None, bool]] = []

    @click.command()
    @click.option("-m", "--model")
    @where_options(detailed=False)
    @click.option("--json", "as_json", is_flag=True)
    def command(settings: Settings, max_retries: int | None, as_json: bool) -> None:
        received.append((settings, max_retries, as_json))

    args = ["-m", "m1", "--url", "http://h:1/v1", "--key", "k", "--timeout", "2.5"]
    result = CliRunner().invoke(command, [*args, "--max-retries", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert received == [(Settings(url="http://h:1/v1", model="m1", timeout=2.5, key="k"), 0, True)]
    result = CliRunner().invoke(command, ["--timeout", "0"])
    assert result.exit_code == 2
    assert "--timeout" in result.output


def test_a_target_is_the_settings_resolved() -> None:
    assert [field.name for field in fields(Target)] == [
        *(field.name for field in fields(Settings)),
        "fallback",
    ]
    flags = Settings(url="http://h:1/v1", model="m", key="k-secret", password="p-secret")
    target = resolve(flags, environ=False, config_file=False)
    assert isinstance(target, Settings)
    assert (target.provider, target.url, target.model, target.fallback) == (
        "openai",
        "http://h:1/v1",
        "m",
        False,
    )
    assert resolve(Settings(), environ=False, config_file=False).fallback


def test_the_flags_keep_their_secrets_out_of_the_repr() -> None:
    flags = Settings(url="http://u:url-pass@h:1", key="k-secret", password="p-secret")
    assert "secret" not in repr(flags)
    assert "pass" not in repr(flags).replace("password", "")
    assert repr(flags).startswith("Settings(")
