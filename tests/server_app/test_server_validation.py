"""The server checks messages once (not again in the provider), with the shared rules and texts."""

from __future__ import annotations

from typing import Any

import pytest

from acytoo import Local, _validation
from acytoo.server import Backend

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "How do I start the server?"},
]


@pytest.fixture
def role_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ``where`` of every role check: one per message each time messages are validated."""
    seen: list[str] = []
    real = _validation.check_role

    def counting(value: object, where: str, **kwargs: Any) -> str:
        seen.append(where)
        return real(value, where, **kwargs)

    monkeypatch.setattr(_validation, "check_role", counting)
    return seen


async def test_the_provider_alone_validates_its_messages(role_checks: list[str]) -> None:
    # The counter sees a provider's own check: the server tests below can fail.
    assert await Local.create_async("", MESSAGES)
    assert role_checks == ["messages[0]", "messages[1]"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/completions", {"messages": MESSAGES}),
        ("/v1/chat/completions", {"model": "m", "messages": MESSAGES}),
        ("/v1/chat/completions", {"model": "m", "messages": MESSAGES, "stream": True}),
    ],
)
async def test_the_server_validates_messages_once(
    start_server, http, role_checks: list[str], path: str, body: dict[str, object]
) -> None:
    server = await start_server(Backend(Local))
    async with http.post(f"{server.url}{path}", json=body) as response:
        assert response.status == 200, await response.text()
        assert await response.text()
    assert role_checks == ["messages[0]", "messages[1]"]


async def test_checked_messages_are_a_list_of_role_and_content() -> None:
    checked = _validation.check_messages(
        [{"role": "developer", "content": "x", "createdAt": 1}],
        aliases=_validation.OPENAI_ROLE_ALIASES,
    )
    assert isinstance(checked, _validation.CheckedMessages)
    assert checked == [{"role": "system", "content": "x"}]
    # A plain list that looks the same is still checked by a provider.
    assert _validation.validate_messages(checked) is checked


@pytest.mark.parametrize(
    ("path", "field", "value", "message"),
    [
        (
            "/v1/chat/completions",
            "temperature",
            3,
            "temperature must be a number from 0 to 2, not 3",
        ),
        (
            "/api/completions",
            "temperature",
            "hot",
            'temperature must be a number from 0 to 2, not "hot"',
        ),
        (
            "/v1/chat/completions",
            "max_tokens",
            0,
            "max_tokens must be an integer from 1 to 10000000, not 0",
        ),
        (
            "/v1/chat/completions",
            "messages",
            [{"role": "robot", "content": "x"}],
            'messages[0].role must be one of system, user, assistant; got "robot"',
        ),
    ],
)
async def test_the_shared_rules_answer_400_naming_the_field(
    start_server, http, path: str, field: str, value: object, message: str
) -> None:
    server = await start_server(Backend(Local))
    body = {"model": "m", "messages": MESSAGES, field: value}
    async with http.post(f"{server.url}{path}", json=body) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["message"] == message
    assert error["param"] == ("messages" if field == "messages" else field)
    assert error["type"] == "invalid_request_error"
