"""The shared rules of acytoo._validation, table by table: what passes, and the exact error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acytoo import InvalidRequestError
from acytoo._validation import (
    OPENAI_ROLE_ALIASES,
    RELAY_ROLES,
    CheckedMessages,
    check_content,
    check_max_tokens,
    check_message_count,
    check_messages,
    check_model,
    check_role,
    check_temperature,
    check_unicode,
    describe,
    validate_messages,
)

USER = {"role": "user", "content": "Hi"}

VALID: list[tuple[Callable[[object], object], object, object]] = [
    (check_temperature, 0, 0),
    (check_temperature, 2, 2),
    (check_temperature, 0.7, 0.7),
    (check_max_tokens, 1, 1),
    (check_max_tokens, 10_000_000, 10_000_000),
    (check_model, None, None),
    (check_model, "", ""),
    (check_model, "gpt-4", "gpt-4"),
]


@pytest.mark.parametrize(("check", "value", "expected"), VALID)
def test_valid_values_pass_unchanged(
    check: Callable[[object], object], value: object, expected: object
) -> None:
    result = check(value)
    assert result == expected
    assert type(result) is type(expected)


INVALID: list[tuple[Callable[[object], object], object, str, str]] = [
    (check_temperature, -0.1, "temperature must be a number from 0 to 2, not -0.1", "temperature"),
    (check_temperature, 2.5, "temperature must be a number from 0 to 2, not 2.5", "temperature"),
    (
        check_temperature,
        float("nan"),
        "temperature must be a number from 0 to 2, not NaN",
        "temperature",
    ),
    (
        check_temperature,
        float("inf"),
        "temperature must be a number from 0 to 2, not Infinity",
        "temperature",
    ),
    (check_temperature, True, "temperature must be a number from 0 to 2, not true", "temperature"),
    (
        check_temperature,
        "hot",
        'temperature must be a number from 0 to 2, not "hot"',
        "temperature",
    ),
    (check_temperature, [1], "temperature must be a number from 0 to 2, not list", "temperature"),
    (check_max_tokens, 0, "max_tokens must be an integer from 1 to 10000000, not 0", "max_tokens"),
    (
        check_max_tokens,
        -3,
        "max_tokens must be an integer from 1 to 10000000, not -3",
        "max_tokens",
    ),
    (
        check_max_tokens,
        10**7 + 1,
        "max_tokens must be an integer from 1 to 10000000, not 10000001",
        "max_tokens",
    ),
    (
        check_max_tokens,
        1.5,
        "max_tokens must be an integer from 1 to 10000000, not 1.5",
        "max_tokens",
    ),
    (
        check_max_tokens,
        True,
        "max_tokens must be an integer from 1 to 10000000, not true",
        "max_tokens",
    ),
    (check_model, 3.5, "model must be a string, not float", "model"),
    (check_model, ["gpt-4"], "model must be a string, not list", "model"),
    (validate_messages, [], "messages must be a non-empty list of {role, content}", "messages"),
    (
        validate_messages,
        "hello",
        "messages must be a non-empty list of {role, content}",
        "messages",
    ),
    (
        validate_messages,
        {"role": "user"},
        "messages must be a non-empty list of {role, content}",
        "messages",
    ),
    (validate_messages, None, "messages must be a non-empty list of {role, content}", "messages"),
    (
        validate_messages,
        ["hi"],
        "messages[0] must be a {role, content} object, not str",
        "messages",
    ),
    (
        validate_messages,
        [USER, {"role": "robot", "content": "x"}],
        'messages[1].role must be one of system, user, assistant; got "robot"',
        "messages",
    ),
    (
        validate_messages,
        [{"content": "x"}],
        "messages[0].role must be one of system, user, assistant; got null",
        "messages",
    ),
    (
        validate_messages,
        [{"role": "developer", "content": "x"}],
        'messages[0].role must be one of system, user, assistant; got "developer"',
        "messages",
    ),
    (
        validate_messages,
        [{"role": "user", "content": 5}],
        "messages[0].content must be a string",
        "messages",
    ),
    (validate_messages, [{"role": "user"}], "messages[0].content must be a string", "messages"),
    (
        validate_messages,
        [{"role": "user", "content": "a\ud800b"}],
        "messages[0].content contains invalid Unicode (a lone surrogate)",
        "messages",
    ),
    (
        check_messages,
        [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
        "messages[0].content must be a string",
        "messages",
    ),
]


@pytest.mark.parametrize(("check", "value", "message", "param"), INVALID)
def test_invalid_values_name_the_field(
    check: Callable[[object], object], value: object, message: str, param: str
) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        check(value)
    assert str(raised.value) == message
    assert raised.value.param == param


def test_the_field_name_of_max_tokens_is_the_callers() -> None:
    with pytest.raises(InvalidRequestError, match=r"^max_completion_tokens must be") as raised:
        check_max_tokens(0, "max_completion_tokens")
    assert raised.value.param == "max_completion_tokens"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("robot", '"robot"'),
        (None, "null"),
        (3, "3"),
        ({"a": 1}, "dict"),
        ("x" * 100, '"' + "x" * 36 + "..."),
    ],
)
def test_describe_is_short_and_never_dumps_a_structure(value: object, expected: str) -> None:
    assert describe(value) == expected


def test_message_count_limit() -> None:
    assert check_message_count([USER, USER], 2) == [USER, USER]
    with pytest.raises(InvalidRequestError, match=r"^too many messages \(3\); at most 2 are"):
        check_message_count([USER] * 3, 2)


def test_roles_aliases_and_relay_roles() -> None:
    assert check_role("developer", "m", aliases=OPENAI_ROLE_ALIASES) == "system"
    assert check_role("tool", "m", roles=RELAY_ROLES) == "tool"
    with pytest.raises(
        InvalidRequestError,
        match=r"^m\.role must be one of assistant, developer, function, system, tool, user; got 1$",
    ):
        check_role(1, "m", roles=RELAY_ROLES)


def test_content_and_unicode() -> None:
    assert check_content("héllo", "m") == "héllo"
    with pytest.raises(InvalidRequestError) as raised:
        check_unicode("\udfff", "key")
    assert raised.value.param == "key"


@pytest.mark.parametrize(
    "messages",
    [
        [USER],
        (USER,),
        [{"role": "user", "content": "Hi", "createdAt": 1}],
        [{"role": "system", "content": ""}, {"role": "assistant", "content": "ok"}],
    ],
)
def test_validate_messages_returns_what_it_was_given(messages: object) -> None:
    assert validate_messages(messages) is messages


def test_check_messages_keeps_role_and_content_and_joins_text_parts() -> None:
    checked = check_messages(
        [
            {"role": "developer", "content": "Be brief.", "name": "x"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
        ],
        aliases=OPENAI_ROLE_ALIASES,
        text_parts=True,
    )
    assert type(checked) is CheckedMessages
    assert checked == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a\nb"},
    ]
    with pytest.raises(InvalidRequestError, match=r"^messages\[0\]\.content\[1\]: only text parts"):
        check_messages(
            [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]}],
            text_parts=True,
        )


def test_checked_messages_are_not_checked_again() -> None:
    checked = check_messages([USER])
    # Only the validator makes a CheckedMessages; a provider takes it as it is.
    assert validate_messages(checked) is checked
    assert validate_messages(list(checked)) == checked


def test_invalid_request_error_param_is_optional() -> None:
    assert InvalidRequestError("plain").param is None
    assert InvalidRequestError("x", param="model").param == "model"
