"""Bad bytes in every string field, header and raw body: always a 4xx (never a 5xx),
never a traceback in the log, and the server keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import USER, scripted, server_in_thread

from acytoo.server import Backend, ServerConfig
from acytoo.server.ratelimit import RateLimit

SURROGATES = ["\ud800", "\udfff", "a\udc80b", "\udfff\ud800"]
NUL = "a\x00b"
OVERLONG = "x" * 600_000  # under the 1 MiB body limit: the field itself is checked
IGNORED = {("unknown",), ("messages", 0, "name"), ("user",)}
HOSTILE = [*SURROGATES, NUL, OVERLONG, "\r\nX-Evil: 1", "\x7f\x1b[31m"]

# (endpoint, the body's string fields as paths into it). The last ones are ignored by
# the server (never used, never sent on), so any text there may also get a 200.
FIELDS: list[tuple[str, list[tuple[str | int, ...]]]] = [
    (
        "/api/completions",
        [
            ("key",),
            ("model",),
            ("password",),
            ("messages", 0, "role"),
            ("messages", 0, "content"),
            ("temperature",),
            ("unknown",),  # ignored
        ],
    ),
    (
        "/v1/chat/completions",
        [
            ("model",),
            ("messages", 0, "role"),
            ("messages", 0, "content"),
            ("messages", 0, "content", 0, "text"),
            ("stream",),
            ("messages", 0, "name"),  # ignored
            ("user",),  # ignored
        ],
    ),
]


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above, or with a traceback, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@contextlib.contextmanager
def error_records() -> Iterator[list[logging.LogRecord]]:
    handler = ErrorRecords()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def with_field(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    if path[:4] == ("messages", 0, "content", 0):
        body["messages"][0]["content"] = [{"type": "text", "text": "hi"}]
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


async def test_every_string_field_with_bad_text_is_4xx(start_server, http) -> None:
    with error_records() as errors:
        open_server = await start_server(Backend(scripted()))
        locked = await start_server(Backend(scripted()), password="pw", api_keys=("sk-k",))
        failures = []
        for server in (open_server, locked):
            for path, fields in FIELDS:
                for field in fields:
                    for value in HOSTILE:
                        body = json.dumps(with_field(field, value)).encode()
                        headers = {"Content-Type": "application/json"}
                        if server is locked and path.startswith("/v1"):
                            headers["Authorization"] = "Bearer sk-k"
                        async with http.post(
                            f"{server.url}{path}", data=body, headers=headers
                        ) as response:
                            answer = await response.read()
                        ignored = field in IGNORED
                        surrogate = value in SURROGATES and not ignored
                        ok = response.status < 500 and (
                            400 <= response.status < 500 if surrogate else True
                        )
                        if response.status >= 400:
                            ok = ok and "error" in json.loads(answer)
                        if not ok:
                            failures.append(f"{path} {field} {value[:10]!r}: {response.status}")
        assert not failures, "\n".join(failures)
        async with http.post(f"{open_server.url}/api/completions", json={"messages": USER}) as r:
            assert await r.text() == "Hello, world"
    assert not errors, [record.getMessage() for record in errors]


async def test_lone_surrogate_password_is_401_not_500(start_server, http) -> None:
    with error_records() as errors:
        server = await start_server(Backend(scripted()), password="pw")
        body = b'{"password": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
        async with http.post(f"{server.url}/api/completions", data=body) as response:
            assert response.status == 401
            assert (await response.json())["msg"] == "No password or wrong password"
    assert not errors


async def raw_exchange(server, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(-1), 30)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xff\xfe",  # not UTF-8
        "Bearer ключ".encode(),  # UTF-8, not ASCII
        b"Bearer \xed\xa0\x80",  # an encoded surrogate
        b"Bearer sk-" + b"k" * 7000,  # overlong (aiohttp's field limit is 8190)
        "Bеarer sk-k".encode(),  # a Cyrillic e in the scheme
    ],
)
@pytest.mark.parametrize("path", ["/v1/models", "/v1/chat/completions"])
async def test_bad_authorization_headers_are_401(start_server, authorization, path) -> None:
    with error_records() as errors:
        server = await start_server(Backend(scripted()), api_keys=("sk-k",))
        body = json.dumps({"messages": USER}).encode()
        method = b"GET" if path == "/v1/models" else b"POST"
        raw = await raw_exchange(
            server,
            method + b" " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Connection: close\r\nContent-Type: application/json\r\n"
            b"Authorization: " + authorization + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
        )
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), head
    assert json.loads(payload)["error"]["code"] == "invalid_api_key"
    assert not errors, [record.getMessage() for record in errors]


async def test_unparsable_requests_log_one_line_without_the_bytes(start_server, caplog) -> None:
    """aiohttp's own 400s (a NUL in a header, a bad chunk size, a body that does not
    decompress) used to be logged with a traceback quoting the bytes, and answered in
    plain text quoting them back (an Authorization header's key included): now the
    answer is the server's JSON error, naming nothing it was sent."""
    server = await start_server(Backend(scripted()))
    requests = [
        b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-SECRET\x00\r\n\r\n",
        b"POST /api/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST /api/completions HTTP/1.1\r\nHost: localhost\r\nContent-Encoding: gzip\r\n"
        b"Connection: close\r\nContent-Length: 5\r\n\r\nabcde",
        b"GET /\xff\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ]
    with caplog.at_level(logging.DEBUG):
        for request in requests:
            raw = await raw_exchange(server, request)
            assert raw.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), raw[:100]
            head, _, payload = raw.partition(b"\r\n\r\n")
            assert b"application/json" in head
            assert json.loads(payload)["error"]["type"] == "invalid_request_error"
            assert b"SECRET" not in raw
    assert not [record for record in caplog.records if record.exc_info]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert "SECRET" not in caplog.text
    assert caplog.text.count("rejected a malformed request") == len(requests)


def test_secrets_that_are_not_utf8_do_not_stop_the_server() -> None:
    # What the environment gives Python for a password with a byte that is not UTF-8.
    from acytoo.server.service import Service

    service = Service(ServerConfig(password="pw\udcff"), Backend(scripted()))
    assert service.check_secret("pw\udcff")
    assert not service.check_secret("pw\ud800")


# ------------------------------------------------------------ raw bodies, any bytes

_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from([*SURROGATES, NUL, "", "user", "system", "pw", "x" * 5000]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=12,
)
_MESSAGE = st.fixed_dictionaries(
    {},
    optional={"role": st.one_of(_TEXT, _JSON), "content": st.one_of(_TEXT, _JSON)},
)
_BODY_OBJECT = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.one_of(st.lists(_MESSAGE, max_size=3), _JSON),
        "model": st.one_of(_TEXT, _JSON),
        "key": st.one_of(_TEXT, _JSON),
        "password": st.one_of(_TEXT, _JSON),
        "temperature": st.one_of(st.floats(), _JSON),
        "stream": _JSON,
        "n": _JSON,
        "stream_options": _JSON,
        "max_tokens": _JSON,
    },
)


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes of any kind: random, JSON-ish with hostile strings, or JSON cut and spliced."""
    kind = draw(st.sampled_from(["bytes", "json", "spliced"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    text = json.dumps(draw(_BODY_OBJECT), ensure_ascii=draw(st.booleans()))
    data = text.encode("utf-8", "surrogatepass")
    if kind == "spliced" and data:
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=20)) + data[cut:]
    return data


_CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "a/b+json"]
)
_AUTHORIZATION = st.one_of(
    st.none(),
    st.just(b"Bearer sk-k"),
    st.binary(max_size=40).filter(lambda value: b"\r" not in value and b"\n" not in value),
)


def _post(port: int, path: str, body: bytes, content_type: str | None, auth: bytes | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path, skip_accept_encoding=True)
        if content_type is not None:
            connection.putheader("Content-Type", content_type)
        if auth is not None:
            connection.putheader("Authorization", auth)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        # Every error of ours is JSON; aiohttp's own 400 for a request it cannot
        # parse (a NUL in the Authorization header) is its plain text.
        plain = (response.getheader("Content-Type") or "").startswith("text/plain")
        if response.status >= 400 and not (response.status == 400 and plain):
            json.loads(answer)
        return response.status
    finally:
        connection.close()


def test_raw_bodies_never_get_a_5xx_and_the_server_keeps_serving() -> None:
    backend = Backend(scripted())
    config = ServerConfig(port=0, grace_period=1.0, access_log=False)
    # Hypothesis sends many wrong secrets: the failed-authentication limit (tested
    # on its own elsewhere) must not turn the final "still serving" check into a 429.
    locked = ServerConfig(
        port=0,
        grace_period=1.0,
        access_log=False,
        password="pw",
        api_keys=("sk-k",),
        auth_limit=RateLimit(rate=1000.0, burst=100_000),
    )
    with (
        error_records() as errors,
        server_in_thread(config, backend) as open_url,
        server_in_thread(locked, backend) as locked_url,
    ):
        ports = [int(url.rsplit(":", 1)[1]) for url in (open_url, locked_url)]

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            port=st.sampled_from(ports),
            path=st.sampled_from(["/api/completions", "/v1/chat/completions"]),
            body=raw_bodies(),
            content_type=_CONTENT_TYPES,
            auth=_AUTHORIZATION,
        )
        def no_5xx(
            port: int, path: str, body: bytes, content_type: str | None, auth: bytes | None
        ) -> None:
            status = _post(port, path, body, content_type, auth)
            assert status < 500, (status, body[:200])

        no_5xx()
        for port in ports:
            good = json.dumps({"messages": USER, "password": "pw"}).encode()
            assert _post(port, "/api/completions", good, "application/json", None) == 200
    assert not errors, [record.getMessage() for record in errors]


async def test_paths_cannot_forge_access_log_lines(start_server, http, caplog) -> None:
    server = await start_server(Backend(scripted()))
    with caplog.at_level(logging.INFO, logger="acytoo.server.access"):
        for path in ("/%0a2026-01-01 INFO forged", "/%0d%0aX", "/%00%1b[31m", "/%ff%fe"):
            async with http.get(f"{server.url}{path}") as response:
                assert response.status == 404
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4
    for line in lines:
        assert line.isprintable(), repr(line)
    assert "%0a2026-01-01" in lines[0].lower()
