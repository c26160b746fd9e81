"""A table of malformed and hostile requests: each gets the right 4xx with a JSON
error, and the server keeps serving."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest
from server_helpers import USER, scripted

from acytoo.server import Backend

JSON = {"Content-Type": "application/json"}
OK_MESSAGE = {"role": "user", "content": "hi"}


def body(**fields: object) -> bytes:
    return json.dumps({"messages": [OK_MESSAGE], **fields}).encode()


def with_message(**message: object) -> bytes:
    return json.dumps({"messages": [message]}).encode()


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


FIVE_MB = body(messages=[{"role": "user", "content": "x" * (5 * 1024 * 1024)}])
DEEP = (
    b'{"messages": [{"role": "user", "content": "hi"}], "x": '
    + b"[" * 200_000
    + b"]" * 200_000
    + b"}"
)

# (id, content type or None, body, expected status, words expected in the message)
CASES: list[tuple[str, str | None, bytes, int, str]] = [
    ("empty body", "application/json", b"", 400, "empty"),
    ("whitespace body", "application/json", b"  \n ", 400, "empty"),
    ("malformed JSON", "application/json", b'{"messages": [', 400, "invalid JSON"),
    ("trailing garbage", "application/json", body() + b"x", 400, "invalid JSON"),
    ("JSON array body", "application/json", b"[]", 400, "JSON object"),
    ("null body", "application/json", b"null", 400, "JSON object"),
    ("string body", "application/json", b'"hello"', 400, "JSON object"),
    ("number body", "application/json", b"42", 400, "JSON object"),
    ("messages missing", "application/json", b"{}", 400, "messages"),
    ("messages a string", "application/json", b'{"messages": "hi"}', 400, "messages"),
    ("messages empty", "application/json", b'{"messages": []}', 400, "non-empty"),
    ("message a string", "application/json", b'{"messages": ["hi"]}', 400, "object"),
    ("role missing", "application/json", with_message(content="hi"), 400, "role"),
    ("role tool", "application/json", with_message(role="tool", content="hi"), 400, "role"),
    ("role a number", "application/json", with_message(role=5, content="hi"), 400, "role"),
    ("content missing", "application/json", with_message(role="user"), 400, "content"),
    ("content a number", "application/json", with_message(role="user", content=5), 400, "content"),
    ("content null", "application/json", with_message(role="user", content=None), 400, "content"),
    (
        "content a list of parts",
        "application/json",
        with_message(role="user", content=[{"type": "text", "text": "hi"}]),
        400,
        "content",
    ),
    ("negative temperature", "application/json", body(temperature=-0.1), 400, "temperature"),
    ("temperature above 2", "application/json", body(temperature=2.5), 400, "temperature"),
    ("temperature a string", "application/json", body(temperature="0.5"), 400, "temperature"),
    ("temperature a boolean", "application/json", body(temperature=True), 400, "temperature"),
    ("NaN", "application/json", body()[:-1] + b', "temperature": NaN}', 400, "NaN"),
    ("Infinity", "application/json", body()[:-1] + b', "temperature": Infinity}', 400, "Infinity"),
    (
        "-Infinity",
        "application/json",
        body()[:-1] + b', "temperature": -Infinity}',
        400,
        "Infinity",
    ),
    (
        "float overflowing",
        "application/json",
        body()[:-1] + b', "temperature": 1e400}',
        400,
        "range",
    ),
    (
        "huge integer",
        "application/json",
        body()[:-1] + b', "temperature": ' + b"9" * 5000 + b"}",
        400,
        "JSON",
    ),
    (
        "duplicate keys",
        "application/json",
        b'{"messages": [{"role": "user", "content": "a"}], "messages": []}',
        400,
        "duplicate",
    ),
    ("deep nesting", "application/json", DEEP, 400, "deep"),
    ("invalid UTF-8", "application/json", body()[:-2] + b'"\xff\xfe"}', 400, "UTF-8"),
    ("UTF-8 BOM", "application/json", b"\xef\xbb\xbf" + body(), 400, "invalid JSON"),
    (
        "lone surrogate",
        "application/json",
        b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
        400,
        "surrogate",
    ),
    ("model a number", "application/json", body(model=3.5), 400, "model"),
    ("key an object", "application/json", body(key={"k": 1}), 400, "key"),
    ("password a list", "application/json", body(password=["pw"]), 400, "password"),
    ("key with a newline", "application/json", body(key="sk-1\r\nX-Evil: 1"), 400, "key"),
    (
        "10,000 messages",
        "application/json",
        json.dumps({"messages": [OK_MESSAGE] * 10_000}).encode(),
        400,
        "too many messages",
    ),
    ("5 MB content", "application/json", FIVE_MB, 413, "larger than"),
    ("form content type", "application/x-www-form-urlencoded", b"messages=hi", 415, "Content-Type"),
    ("multipart content type", "multipart/form-data; boundary=x", b"--x--", 415, "Content-Type"),
    ("XML content type", "application/xml", b"<messages/>", 415, "Content-Type"),
]


async def test_hostile_requests_get_4xx_json_and_the_server_keeps_serving(
    start_server, http
) -> None:
    server = await start_server(Backend(scripted()))
    url = f"{server.url}/api/completions"
    failures = []
    for name, content_type, data, status, words in CASES:
        headers = {} if content_type is None else {"Content-Type": content_type}
        # Large bodies as a file object: aiohttp warns about big raw bytes.
        payload = io.BytesIO(data) if len(data) > 512 * 1024 else data
        async with http.post(url, data=payload, headers=headers) as response:
            answer = await response.read()
        try:
            error = json.loads(answer)
            assert response.status == status
            assert response.content_type == "application/json"
            assert error["msg"] == error["error"]["message"]
            assert words.lower() in error["msg"].lower(), error["msg"]
            assert error["error"]["type"]
        except (AssertionError, ValueError, KeyError) as exc:
            failures.append(f"{name}: {response.status} {answer[:200]!r} ({exc})")
    assert not failures, "\n".join(failures)
    assert len(CASES) >= 25
    async with http.post(url, json={"messages": USER}) as response:
        assert response.status == 200
        assert await response.text() == "Hello, world"


async def test_chunked_body_over_the_limit_is_413(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    async with http.post(
        f"{server.url}/api/completions", data=chunked(FIVE_MB), headers=JSON
    ) as response:
        assert response.status == 413
        assert "larger than" in (await response.json())["msg"]
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200


async def test_configured_body_limit(start_server, http) -> None:
    server = await start_server(Backend(scripted()), max_body=100)
    async with http.post(f"{server.url}/api/completions", data=body(), headers=JSON) as response:
        assert response.status == 200
    big = body(model="m" * 200)
    async with http.post(f"{server.url}/api/completions", data=big, headers=JSON) as response:
        assert response.status == 413


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=utf-8", "text/plain", "application/vnd.x+json"],
)
async def test_lenient_content_types_are_read_as_json(start_server, http, content_type) -> None:
    server = await start_server(Backend(scripted()))
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with http.post(
        f"{server.url}/api/completions",
        data=body(),
        headers=headers,
        skip_auto_headers={"Content-Type"},
    ) as response:
        assert response.status == 200


async def test_extra_fields_and_nulls_are_accepted(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    data = json.dumps(
        {
            "messages": [{"role": "user", "content": "hi", "createdAt": 1, "meta": {"a": [1]}}],
            "model": None,
            "key": None,
            "password": None,
            "temperature": None,
            "unknown": {"x": 1},
        }
    ).encode()
    async with http.post(f"{server.url}/api/completions", data=data, headers=JSON) as response:
        assert response.status == 200


OPENAI_CASES: list[tuple[str, dict[str, object], str]] = [
    ("stream not a boolean", {"messages": [OK_MESSAGE], "stream": "yes"}, "stream"),
    ("n above 1", {"messages": [OK_MESSAGE], "n": 2}, "n=1"),
    ("tool role", {"messages": [{"role": "tool", "content": "x"}]}, "role"),
    (
        "image part",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "text parts",
    ),
    (
        "stream_options not an object",
        {"messages": [OK_MESSAGE], "stream_options": 1},
        "stream_options",
    ),
    ("temperature negative", {"messages": [OK_MESSAGE], "temperature": -1}, "temperature"),
]


async def test_openai_endpoint_rejects_bad_requests_in_openai_shape(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    for name, payload, words in OPENAI_CASES:
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            error = await response.json()
        assert response.status == 400, name
        assert set(error) == {"error"}, name
        assert words in error["error"]["message"], name
        assert error["error"]["type"] == "invalid_request_error"
    async with http.post(
        f"{server.url}/v1/chat/completions", data=b"[1,", headers=JSON
    ) as response:
        assert response.status == 400
        assert "invalid JSON" in (await response.json())["error"]["message"]
