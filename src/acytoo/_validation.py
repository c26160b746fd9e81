"""The rules for a chat request's arguments, and their error messages, written once.

The providers, the server's protocol parsers and the CLI's config all check
``messages``, ``temperature``, ``max_tokens`` and ``model`` here. Every
failure is an :class:`~acytoo.InvalidRequestError` whose ``param`` names the
field; the server turns it into its 400 answer, the CLI into its
``ConfigError``. No aiohttp import: the offline assistant uses this too.

Messages are checked once per request. :func:`check_messages` (the server's
parsers) returns a :class:`CheckedMessages`, and :func:`validate_messages`
(every provider) accepts one without looking at it again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import cast

from ._base_errors import InvalidRequestError
from ._types import Message, Messages, Role

__all__ = [
    "MAX_TOKENS_LIMIT",
    "OPENAI_ROLE_ALIASES",
    "RELAY_ROLES",
    "ROLES",
    "CheckedMessages",
    "check_content",
    "check_max_tokens",
    "check_message_count",
    "check_message_object",
    "check_messages",
    "check_model",
    "check_role",
    "check_temperature",
    "check_unicode",
    "describe",
    "validate_messages",
]

ROLES = frozenset({"system", "user", "assistant"})
# OpenAI's newer name for the system role; upstreams of other kinds know only "system".
OPENAI_ROLE_ALIASES: Mapping[str, str] = {"developer": "system"}
# Roles a relayed request may carry (the upstream checks the rest of each message).
RELAY_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_TOKENS_LIMIT = 10**7
_ROLE_NAMES = ", ".join(sorted(ROLES, key=["system", "user", "assistant"].index))
_NO_ALIASES: Mapping[str, str] = {}


class CheckedMessages(list[Message]):
    """Messages that :func:`check_messages` has checked: ``{role, content}`` dicts only.

    Only the validator builds one; a provider given one skips its own check,
    so a request through the server is validated once. A list, not a tuple:
    the server handed providers a list before, and a provider written for
    that (``messages + [...]``) keeps working.
    """

    __slots__ = ()


def describe(value: object) -> str:
    """``value`` for an error message: a short JSON scalar or a type name, never a whole body."""
    text = (
        json.dumps(value)
        if isinstance(value, (str, int, float, bool, type(None)))
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def check_unicode(value: str, name: str, param: str | None = None) -> str:
    """``value`` unless it holds a lone surrogate (it could not be sent as UTF-8)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequestError(
                f"{name} contains invalid Unicode (a lone surrogate)", param=param or name
            ) from None
    return value


def check_temperature(value: object) -> float:
    """``value`` if it is a number from 0 to 2 (``bool`` is not a number here)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 2
    ):
        raise InvalidRequestError(
            f"temperature must be a number from 0 to 2, not {describe(value)}",
            param="temperature",
        )
    return value


def check_max_tokens(value: object, name: str = "max_tokens") -> int:
    """``value`` if it is an integer from 1 to :data:`MAX_TOKENS_LIMIT`; ``name`` is the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
        raise InvalidRequestError(
            f"{name} must be an integer from 1 to {MAX_TOKENS_LIMIT}, not {describe(value)}",
            param=name,
        )
    return value


def check_model(value: object) -> str | None:
    """``value`` if it is a string or ``None`` (the provider's default model)."""
    if value is not None and not isinstance(value, str):
        raise InvalidRequestError(
            f"model must be a string, not {type(value).__name__}", param="model"
        )
    return value


def check_role(
    value: object,
    where: str,
    *,
    roles: frozenset[str] = ROLES,
    aliases: Mapping[str, str] = _NO_ALIASES,
) -> str:
    """The role of the message at ``where`` (``messages[3]``), after ``aliases``."""
    if isinstance(value, str):
        value = aliases.get(value, value)
        if value in roles:
            return value
    names = _ROLE_NAMES if roles is ROLES else ", ".join(sorted(roles))
    raise InvalidRequestError(
        f"{where}.role must be one of {names}; got {describe(value)}", param="messages"
    )


def check_content(value: object, where: str) -> str:
    """The text content of the message at ``where``."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{where}.content must be a string", param="messages")
    return check_unicode(value, f"{where}.content", "messages")


def check_message_count(value: object, max_messages: int | None = None) -> Sequence[object]:
    """``value`` if it is a non-empty sequence (not a string) of at most ``max_messages``."""
    if (
        not (
            isinstance(value, list)  # the common, fast check
            or (isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)))
        )
        or not value
    ):
        raise InvalidRequestError(
            "messages must be a non-empty list of {role, content}", param="messages"
        )
    if max_messages is not None and len(value) > max_messages:
        raise InvalidRequestError(
            f"too many messages ({len(value)}); at most {max_messages} are accepted",
            param="messages",
        )
    return value


def check_message_object(message: object, where: str) -> Mapping[str, object]:
    """The message at ``where`` if it is a mapping (a JSON object)."""
    if not isinstance(message, (dict, Mapping)):  # dict first: the common, fast check
        raise InvalidRequestError(
            f"{where} must be a {{role, content}} object, not {type(message).__name__}",
            param="messages",
        )
    return message


def check_messages(
    value: object,
    *,
    max_messages: int | None = None,
    aliases: Mapping[str, str] = _NO_ALIASES,
    text_parts: bool = False,
) -> CheckedMessages:
    """``value`` as checked ``{role, content}`` dicts (other fields, such as ``createdAt``, dropped).

    ``aliases`` renames roles (OpenAI's ``developer``); with ``text_parts``,
    a list of OpenAI text parts is joined into one string.
    """
    checked: list[Message] = []
    for index, message in enumerate(check_message_count(value, max_messages)):
        where = f"messages[{index}]"
        fields = check_message_object(message, where)
        role = check_role(fields.get("role"), where, aliases=aliases)
        content = fields.get("content")
        if text_parts and isinstance(content, list):
            content = _join_text_parts(content, where)
        checked.append({"role": cast(Role, role), "content": check_content(content, where)})
    return CheckedMessages(checked)


def validate_messages(messages: object) -> Messages:
    """``messages`` as a sequence of ``{role, content}`` mappings, or :class:`InvalidRequestError`.

    Extra fields pass as they are. :class:`CheckedMessages` are not checked again.
    """
    if type(messages) is CheckedMessages:
        return messages
    for index, message in enumerate(check_message_count(messages)):
        where = f"messages[{index}]"
        fields = check_message_object(message, where)
        check_role(fields.get("role"), where)
        check_content(fields.get("content"), where)
    return cast(Messages, messages)


def _join_text_parts(parts: list[object], where: str) -> str:
    """OpenAI content parts: text parts are joined; images and audio are refused."""
    texts: list[str] = []
    for index, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(text, str):
            raise InvalidRequestError(
                f"{where}.content[{index}]: only text parts are supported", param="messages"
            )
        texts.append(text)
    return "\n".join(texts)
