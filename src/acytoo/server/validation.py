"""Reading and checking request bodies: bad input becomes a 4xx, never a 500.

Decisions (documented in docs/server.md):

- Content-Type: ``application/json``, any ``application/*+json``,
  ``text/plain`` (what a browser sends without a preflight) or none at all is
  read as JSON; anything else (forms, multipart) is 415.
- The body limit is checked against Content-Length before reading and again
  while reading, so a chunked body cannot slip past it (413).
- Strict JSON: strict UTF-8, no duplicate keys, no ``NaN``/``Infinity``, no
  numbers that overflow to infinity, bounded nesting; the top level must be
  an object.
- ``null`` for an optional field means "not given".
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import StreamReader, web

from .._types import Message, Role
from .connections import DEFAULT_BODY_TIMEOUT
from .errors import RequestError

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_MESSAGES",
    "TEXT_ONLY_PARAMETERS",
    "CompletionRequest",
    "RelayRequest",
    "parse_acytoo_request",
    "parse_embeddings_request",
    "parse_openai_request",
    "parse_relay_request",
    "read_json_body",
    "read_raw_json_body",
]

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_MESSAGES = 4096
# After the stall timeout, a body must have come at least this fast on average
# (Apache mod_reqtimeout's MinRate): a trickle of a byte every few seconds cannot
# hold a connection for hours. 1 MiB at this rate takes 35 minutes.
MIN_BODY_RATE = 500
ROLES = frozenset({"system", "user", "assistant"})
# OpenAI's newer name for the system role; upstreams of other kinds know only "system".
_OPENAI_ROLE_ALIASES = {"developer": "system"}
_JSON_TYPES = frozenset({"application/json", "text/plain", "application/octet-stream", ""})
# Chat Completions parameters the server honours itself for a backend that carries
# text only (the offline assistant, an Acytoo upstream); "user", "metadata" and
# "store" change nothing for the answer. Anything else is refused with 400 naming
# it, unless its value is one that changes nothing either (_NEUTRAL_VALUES).
TEXT_ONLY_PARAMETERS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "user",
        "metadata",
        "store",
    }
)
_NEUTRAL_VALUES: dict[str, tuple[object, ...]] = {
    "top_p": (1,),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logprobs": (False,),
    "tools": ([],),
    "tool_choice": ("none", "auto"),
    "parallel_tool_calls": (True, False),
    "response_format": ({"type": "text"},),
}
# Roles a relayed request may carry (the upstream checks the rest of each message).
_RELAY_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class RelayRequest:
    """A checked Chat Completions body for a backend that relays it as it is.

    Only what the server must look at is extracted; the body itself goes
    upstream unchanged (see :func:`parse_relay_request`).
    """

    model: str | None
    stream: bool
    model_given: bool
    include_usage: bool = False
    """Whether the body has a ``model`` key at all (``null`` counts as given)."""


@dataclass(frozen=True)
class CompletionRequest:
    """A checked request, whichever protocol it came in by."""

    messages: list[Message]
    model: str | None = None
    temperature: float | None = None
    key: str = ""
    password: str = ""
    stream: bool = True
    include_usage: bool = False
    max_tokens: int | None = None


async def read_json_body(
    request: web.Request, max_body: int, stall_timeout: float = DEFAULT_BODY_TIMEOUT
) -> object:
    """The request's JSON body, or :class:`RequestError` (400, 408, 413 or 415)."""
    return (await read_raw_json_body(request, max_body, stall_timeout))[1]


async def read_raw_json_body(
    request: web.Request, max_body: int, stall_timeout: float = DEFAULT_BODY_TIMEOUT
) -> tuple[bytes, object]:
    """The request's body as received and parsed (strict JSON), or :class:`RequestError`.

    A body that stops arriving for ``stall_timeout`` seconds, or that arrives
    slower than ``MIN_BODY_RATE`` on average once ``stall_timeout`` has passed,
    is answered 408 and its connection closed.
    """
    content_type = request.content_type.lower()
    if content_type not in _JSON_TYPES and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        raise RequestError(
            415,
            f"unsupported Content-Type {content_type!r}; send application/json",
            type="invalid_request_error",
        )
    length = request.content_length
    if length is not None and length > max_body:
        raise _too_large(max_body)
    parts: list[bytes] = []
    size = 0
    content = request.content
    started = asyncio.get_running_loop().time()
    while True:
        try:
            chunk = await _next_chunk(content, stall_timeout, started + size / MIN_BODY_RATE)
        except web.RequestPayloadError:
            # A broken chunked encoding or compressed body: the client's fault.
            raise RequestError(
                400,
                "malformed request body: its chunked or compressed encoding is broken",
                headers={"Connection": "close"},
            ) from None
        if not chunk:
            break
        size += len(chunk)
        if size > max_body:
            raise _too_large(max_body)
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        raise RequestError(400, "empty request body; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"request body is not valid UTF-8 (byte {exc.start})") from None
    return raw, parse_json(text)


async def _next_chunk(content: StreamReader, stall_timeout: float, earned: float) -> bytes:
    """The next piece of the body; ``earned + stall_timeout`` is when the bytes so far
    (at ``MIN_BODY_RATE``) stop paying for more waiting."""
    # Most bodies are already buffered: wait (and pay for a timeout) only when not.
    chunk = content.read_nowait()
    if chunk or content.at_eof():
        return chunk
    left = earned + stall_timeout - asyncio.get_running_loop().time()
    wait = min(stall_timeout, left)
    try:
        if wait <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(content.readany(), wait)
    except asyncio.TimeoutError:
        reason = (
            f"no data for {stall_timeout:g} s"
            if wait == stall_timeout
            else f"slower than {MIN_BODY_RATE} bytes/s"
        )
        raise RequestError(
            408,
            f"request body stalled: {reason}",
            code="request_timeout",
            # track_requests closes the connection once this answer is sent.
            headers={"Connection": "close"},
        ) from None


def _too_large(max_body: int) -> RequestError:
    return RequestError(
        413,
        f"request body larger than {max_body} bytes",
        type="request_too_large",
        # The rest of the body is not read: the connection cannot be reused.
        headers={"Connection": "close"},
    )


def parse_json(text: str) -> object:
    """Strict JSON: no duplicate keys, no NaN or infinities, bounded nesting."""
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except RecursionError:
        raise RequestError(400, "JSON nested too deeply") from None
    except _JSONValueError as exc:
        raise RequestError(400, f"invalid JSON: {exc}") from None
    except ValueError as exc:
        # JSONDecodeError, and int() refusing a number with too many digits.
        raise RequestError(400, f"invalid JSON: {exc}") from None


class _JSONValueError(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _JSONValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> float:
    raise _JSONValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _JSONValueError(f"number {text[:32]} is out of range")
    return value


def parse_acytoo_request(body: object, *, max_messages: int) -> CompletionRequest:
    """Check an Acytoo-protocol body ``{key, model, messages, temperature, password}``.

    Unknown top-level fields are ignored, as are extra per-message fields
    such as ``createdAt``; only ``role`` and ``content`` go upstream.
    """
    fields = _object(body)
    return CompletionRequest(
        messages=_messages(fields.get("messages"), max_messages, openai=False),
        model=_optional_string(fields, "model"),
        temperature=_temperature(fields.get("temperature")),
        key=_key(fields),
        password=_optional_string(fields, "password") or "",
    )


def parse_openai_request(body: object, *, max_messages: int) -> CompletionRequest:
    """Check a Chat Completions body for a text-only backend; parameters it cannot
    honour are refused with 400 naming them (``param``)."""
    fields = _object(body)
    for name, value in fields.items():
        if name not in TEXT_ONLY_PARAMETERS and value is not None and not _neutral(name, value):
            raise RequestError(
                400,
                f"{name} is not supported by this server's backend, which answers with text only",
                param=name,
                code="unsupported_parameter",
            )
    stream = fields.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(400, "stream must be a boolean", param="stream")
    n = fields.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError(400, "only n=1 is supported", param="n")
    include_usage = _include_usage(fields)
    return CompletionRequest(
        messages=_messages(fields.get("messages"), max_messages, openai=True),
        model=_optional_string(fields, "model"),
        temperature=_temperature(fields.get("temperature")),
        stream=bool(stream),
        include_usage=include_usage,
        max_tokens=_max_tokens(fields),
    )


def _neutral(name: str, value: object) -> bool:
    """Whether ``value`` is one that changes nothing for a text answer (``top_p: 1``...)."""
    neutral = _NEUTRAL_VALUES.get(name, ())
    # True == 1 and False == 0 in Python: compare types too.
    return any(type(value) is type(candidate) and value == candidate for candidate in neutral)


def parse_relay_request(body: object, *, max_messages: int) -> RelayRequest:
    """Check a Chat Completions body that goes upstream unchanged.

    What the server owns or must rely on is checked (``model``, ``stream``,
    ``stream_options``, ``n``, ``temperature``, the token limits, the shape
    of ``messages``); every other field is the upstream's to judge, so
    parameters acytoo does not know yet work too. Malformed messages are
    still a 400 here rather than whatever the upstream makes of them.
    """
    fields = _object(body)
    stream = fields.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(400, "stream must be a boolean", param="stream")
    n = fields.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        raise RequestError(400, "n must be an integer from 1 to 128", param="n")
    include_usage = _include_usage(fields)
    _temperature(fields.get("temperature"))
    _max_tokens(fields)
    _relay_messages(fields.get("messages"), max_messages)
    return RelayRequest(
        model=_optional_string(fields, "model"),
        stream=bool(stream),
        model_given="model" in fields,
        include_usage=include_usage,
    )


def parse_embeddings_request(body: object) -> str:
    """Check an embeddings body (``model`` and ``input`` are required); its model."""
    fields = _object(body)
    model = _optional_string(fields, "model")
    if not model:
        raise RequestError(400, "model is required", param="model")
    value = fields.get("input")
    if not isinstance(value, (str, list)) or not value:
        raise RequestError(400, "input must be a non-empty string or list", param="input")
    return model


def _include_usage(fields: Mapping[str, object]) -> bool:
    stream_options = fields.get("stream_options")
    if stream_options is None:
        return False
    if not isinstance(stream_options, Mapping):
        raise RequestError(400, "stream_options must be an object", param="stream_options")
    usage = stream_options.get("include_usage")
    if usage is not None and not isinstance(usage, bool):
        raise RequestError(
            400, "stream_options.include_usage must be a boolean", param="stream_options"
        )
    return bool(usage)


def _relay_messages(value: object, max_messages: int) -> None:
    """The shapes of OpenAI's messages: tool results, tool calls, content parts, names."""
    value = _message_list(value, max_messages)
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestError(400, f"{where} must be an object", param="messages")
        role = message.get("role")
        if not isinstance(role, str) or role not in _RELAY_ROLES:
            raise RequestError(
                400,
                f"{where}.role must be one of {', '.join(sorted(_RELAY_ROLES))}; "
                f"got {_short(role)}",
                param="messages",
            )
        content = message.get("content")
        calls = message.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                raise RequestError(
                    400, f"{where}: only assistant messages carry tool_calls", param="messages"
                )
            _tool_calls(calls, where)
        if content is None:
            # An assistant that only called tools (or a function) says nothing; so may
            # a (deprecated) function result.
            if role == "function":
                pass
            elif role != "assistant" or (calls is None and message.get("function_call") is None):
                raise RequestError(400, f"{where}.content is required", param="messages")
        elif isinstance(content, str):
            _check_unicode(content, f"{where}.content")
        elif isinstance(content, list):
            _content_parts(content, where)
        else:
            raise RequestError(
                400, f"{where}.content must be a string or a list of parts", param="messages"
            )
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise RequestError(
                400, f"{where}.tool_call_id is required for a tool message", param="messages"
            )
        name = message.get("name")
        if (name is not None or role == "function") and not isinstance(name, str):
            raise RequestError(400, f"{where}.name must be a string", param="messages")


def _tool_calls(calls: object, where: str) -> None:
    if not isinstance(calls, list):
        raise RequestError(400, f"{where}.tool_calls must be a list", param="messages")
    for index, call in enumerate(calls):
        here = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), str)
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise RequestError(
                400,
                f"{here} must be {{id, type, function: {{name, arguments}}}} with strings",
                param="messages",
            )


def _content_parts(parts: list[object], where: str) -> None:
    # The part types the upstream may take are open-ended (text, image_url,
    # input_audio, file, ...); each must at least name its type and carry it.
    for index, part in enumerate(parts):
        here = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(kind, str) or kind not in part:
            raise RequestError(
                400, f"{here} must be an object {{type, <type>: ...}}", param="messages"
            )
        if kind in ("text", "refusal"):
            if not isinstance(part[kind], str):
                raise RequestError(400, f"{here}.{kind} must be a string", param="messages")
            _check_unicode(part[kind], f"{here}.{kind}")
        elif kind == "image_url":
            image = part[kind]
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise RequestError(
                    400, f"{here}.image_url must be an object with a url", param="messages"
                )


def _max_tokens(fields: Mapping[str, object]) -> int | None:
    """``max_completion_tokens`` (OpenAI's current name) or ``max_tokens``; upstreams that
    take a limit get it, others ignore it."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**7:
            raise RequestError(400, f"{name} must be an integer from 1 to 10000000", param=name)
        return value
    return None


def _object(body: object) -> Mapping[str, object]:
    if not isinstance(body, dict):
        kind = "null" if body is None else type(body).__name__
        raise RequestError(400, f"request body must be a JSON object, not {kind}")
    return body


def _optional_string(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(400, f"{name} must be a string", param=name)
    _check_unicode(value, name)
    return value


def _key(fields: Mapping[str, object]) -> str:
    key = _optional_string(fields, "key") or ""
    # It may travel in an Authorization header: visible ASCII only.
    if key and not all("!" <= char <= "~" for char in key):
        raise RequestError(400, "key must be printable ASCII without spaces", param="key")
    return key


def _check_unicode(value: str, name: str) -> None:
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            400, f"{name} contains invalid Unicode (a lone surrogate)", param=name
        ) from None


def _temperature(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 2
    ):
        raise RequestError(400, "temperature must be a number from 0 to 2", param="temperature")
    return float(value)


def _message_list(value: object, max_messages: int) -> list[object]:
    if not isinstance(value, list) or not value:
        raise RequestError(
            400, "messages must be a non-empty list of {role, content}", param="messages"
        )
    if len(value) > max_messages:
        raise RequestError(
            400,
            f"too many messages ({len(value)}); at most {max_messages} are accepted",
            param="messages",
        )
    return value


def _messages(value: object, max_messages: int, *, openai: bool) -> list[Message]:
    value = _message_list(value, max_messages)
    checked: list[Message] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestError(400, f"{where} must be an object", param="messages")
        role = message.get("role")
        if openai and isinstance(role, str):
            role = _OPENAI_ROLE_ALIASES.get(role, role)
        if not isinstance(role, str) or role not in ROLES:
            raise RequestError(
                400,
                f"{where}.role must be one of system, user, assistant; got {_short(role)}",
                param="messages",
            )
        content = message.get("content")
        if openai and isinstance(content, list):
            content = _text_parts(content, where)
        if not isinstance(content, str):
            raise RequestError(400, f"{where}.content must be a string", param="messages")
        _check_unicode(content, f"{where}.content")
        checked.append({"role": cast(Role, role), "content": content})
    return checked


def _text_parts(parts: list[object], where: str) -> str:
    """OpenAI content parts: text parts are joined; images and audio are refused."""
    texts: list[str] = []
    for index, part in enumerate(parts):
        if (
            not isinstance(part, dict)
            or part.get("type") != "text"
            or not isinstance(part.get("text"), str)
        ):
            raise RequestError(
                400,
                f"{where}.content[{index}]: only text parts are supported",
                param="messages",
            )
        texts.append(part["text"])
    return "\n".join(texts)


def _short(value: object) -> str:
    text = (
        json.dumps(value)
        if isinstance(value, (str, int, float, bool, type(None)))
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."
