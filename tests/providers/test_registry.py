"""One registry of backend kinds: the server, the CLI and the config file all read it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from acytoo import InvalidRequestError
from acytoo.cli._provider import provider_call
from acytoo.cli.config import PROVIDERS, Settings, resolve
from acytoo.providers import registry
from acytoo.providers.registry import ProviderKind, get_kind, guess_kind, kind_names
from acytoo.server import build_backend
from acytoo.server.backends import BACKEND_KINDS

USER = [{"role": "user", "content": "ping"}]


@pytest.fixture
def echo_kind() -> Iterator[ProviderKind]:
    """The one registration line a new backend needs, undone after the test."""
    saved = dict(registry._KINDS)
    kind = registry.register(
        ProviderKind(
            "echo",
            "echoes its options",
            "providers.echo_provider:Echo",
            url_option="base",
            key_option="token",
            forwards_temperature=False,
        )
    )
    try:
        yield kind
    finally:
        registry._KINDS.clear()
        registry._KINDS.update(saved)


def test_the_built_in_kinds_are_the_ones_every_entry_point_offers() -> None:
    assert kind_names() == ("local", "openai", "acytoo")
    assert PROVIDERS == BACKEND_KINDS == kind_names()


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(InvalidRequestError, match="choose one of local, openai, acytoo"):
        get_kind("gopher")
    assert get_kind(" OpenAI ").name == "openai"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:11434/v1", "openai"),
        ("http://127.0.0.1:11434/v1/", "openai"),
        ("http://127.0.0.1:8000", "acytoo"),
        ("http://127.0.0.1:8000/api", "acytoo"),
    ],
)
def test_a_url_without_a_kind_is_guessed(url: str, kind: str) -> None:
    assert guess_kind(url).name == kind


def test_call_options_map_generic_settings_to_the_providers_keywords() -> None:
    openai = get_kind("openai")
    assert openai.call_options(url="http://u/v1", key="sk", password="pw", max_tokens=5) == {
        "base_url": "http://u/v1",
        "api_key": "sk",
        "max_tokens": 5,
    }
    acytoo = get_kind("acytoo")
    assert acytoo.call_options(url="http://u", key="k", password="pw", temperature=0.5) == {
        "url": "http://u",
        "key": "k",
        "password": "pw",
        "temperature": 0.5,
    }
    local = get_kind("local")
    assert local.call_options(url="http://u", key="k", temperature=0.5) == {"temperature": 0.5}
    assert not local.needs_url


async def test_a_registered_kind_is_served_by_the_server(echo_kind: ProviderKind) -> None:
    backend = build_backend("echo", ["http://echo.invalid"])
    assert backend.key_option == "token"
    options = backend.call_options("sk-1", temperature=0.3)
    assert options == {"token": "sk-1"}  # this kind takes no temperature
    answer = await backend.provider.create_async("m", USER, **options)  # type: ignore[attr-defined]
    assert json.loads(answer) == {
        "model": "m",
        "last": "ping",
        "base": "http://echo.invalid",
        "token": "sk-1",
    }
    with pytest.raises(InvalidRequestError, match="needs --upstream-url"):
        build_backend("echo")


async def test_a_registered_kind_is_reachable_from_the_cli_settings(
    echo_kind: ProviderKind,
) -> None:
    target = resolve(
        Settings(provider="echo", url="http://echo.invalid", key="sk-2"),
        environ=False,
        config_file=False,
    )
    call = provider_call(target)
    assert call.name == "echo"
    assert call.default_model == "echo-1"
    answer = await call.provider.create_async(call.model(None), USER, **call.kwargs)  # type: ignore[attr-defined]
    assert json.loads(answer) == {
        "model": "echo-1",
        "last": "ping",
        "base": "http://echo.invalid",
        "token": "sk-2",
    }
