"""The Acytoo provider against a real Acytoo-protocol server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acytoo
from acytoo import Acytoo, RetryPolicy
from acytoo.providers.acytoo import _create_header, _create_payload
from servers.acytoo_server import AcytooTestServer, Reply

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]
# Fast retries keep the tests quick without changing what is retried.
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


async def chunks_from(server: AcytooTestServer, model: str = "", /, **kwargs: Any) -> list[str]:
    kwargs.setdefault("url", server.url)
    return [text async for text in Acytoo.create_async_generator(model, MESSAGES, **kwargs)]


def sent_json(server: AcytooTestServer, index: int = -1) -> Any:
    return json.loads(server.requests[index].body)


# --- the spec, exactly -------------------------------------------------------------------


def test_class_attributes_are_the_specs() -> None:
    assert Acytoo.url == "https://chat.acytoo.com"
    assert Acytoo.working is True
    assert Acytoo.supports_message_history is True
    assert Acytoo.supports_gpt_35_turbo is True
    assert Acytoo.supports_stream is True
    assert issubclass(Acytoo, acytoo.AsyncGeneratorProvider)


def test_create_header_is_exact() -> None:
    assert _create_header() == {"accept": "*/*", "content-type": "application/json"}
    assert list(_create_header()) == ["accept", "content-type"]
    assert Acytoo._create_header() == _create_header()


def test_create_payload_matches_the_spec_example_including_key_order() -> None:
    payload = _create_payload(
        messages=[{"role": "user", "content": "Hello, Acytoo!"}], temperature=0.7
    )
    expected = {
        "key": "",
        "model": "gpt-3.5-turbo",
        "messages": [{"role": "user", "content": "Hello, Acytoo!"}],
        "temperature": 0.7,
        "password": "",
    }
    assert payload == expected
    assert list(payload.items()) == list(expected.items())
    assert repr(payload) == (
        "{'key': '', 'model': 'gpt-3.5-turbo', 'messages': [{'role': 'user', "
        "'content': 'Hello, Acytoo!'}], 'temperature': 0.7, 'password': ''}"
    )


def test_create_payload_defaults_and_keyword_overrides() -> None:
    assert _create_payload(MESSAGES)["temperature"] == 0.5
    payload = _create_payload(MESSAGES, 1.0, key="sk-1", password="pw", model="gpt-4")
    assert list(payload.items()) == [
        ("key", "sk-1"),
        ("model", "gpt-4"),
        ("messages", MESSAGES),
        ("temperature", 1.0),
        ("password", "pw"),
    ]
    assert _create_payload(MESSAGES, unrelated="x") == _create_payload(MESSAGES)


async def test_request_as_received_by_the_server(acytoo_server: AcytooTestServer) -> None:
    assert await chunks_from(acytoo_server, "gpt-3.5-turbo") == ["Hello"]
    [request] = acytoo_server.requests
    assert request.method == "POST"
    assert request.path == "/api/completions"
    assert request.headers.getall("accept") == ["*/*"]
    assert request.headers.getall("content-type") == ["application/json"]
    body = sent_json(acytoo_server)
    expected = _create_payload(MESSAGES, 0.5)
    assert list(body.items()) == list(expected.items())
    assert json.loads(request.body) == expected


async def test_key_password_model_and_temperature_reach_the_server(
    acytoo_server: AcytooTestServer,
) -> None:
    await chunks_from(acytoo_server, "my-model", key="sk-own", password="pw", temperature=1.25)
    assert list(sent_json(acytoo_server).items()) == [
        ("key", "sk-own"),
        ("model", "my-model"),
        ("messages", MESSAGES),
        ("temperature", 1.25),
        ("password", "pw"),
    ]


async def test_empty_model_argument_keeps_the_default_model(
    acytoo_server: AcytooTestServer,
) -> None:
    await chunks_from(acytoo_server, "")
    assert sent_json(acytoo_server)["model"] == "gpt-3.5-turbo"
    configured = Acytoo.configure(url=acytoo_server.url, model="configured")
    [_ async for _ in configured.create_async_generator("", MESSAGES)]
    assert sent_json(acytoo_server)["model"] == "configured"
    [_ async for _ in configured.create_async_generator("argument-wins", MESSAGES)]
    assert sent_json(acytoo_server)["model"] == "argument-wins"


async def test_non_ascii_messages_are_sent_as_utf8_json(acytoo_server: AcytooTestServer) -> None:
    messages = [{"role": "user", "content": "Привет, 世界 😀"}]
    [_ async for _ in Acytoo.create_async_generator("", messages, url=acytoo_server.url)]
    assert json.loads(acytoo_server.requests[0].body.decode("utf-8"))["messages"] == messages


# --- where the request goes ---------------------------------------------------------------


async def test_url_per_call_keeps_a_base_path(acytoo_server: AcytooTestServer) -> None:
    await chunks_from(acytoo_server, url=acytoo_server.url + "/prefix/")
    assert acytoo_server.requests[-1].path == "/prefix/api/completions"


async def test_url_per_subclass(acytoo_server: AcytooTestServer) -> None:
    configured = Acytoo.configure(url=acytoo_server.url, password="pw")
    assert configured.url == acytoo_server.url
    texts = [t async for t in configured.create_async_generator("", MESSAGES)]
    assert texts == ["Hello"]
    assert sent_json(acytoo_server)["password"] == "pw"

    class Mine(Acytoo):
        url = acytoo_server.url

    assert [t async for t in Mine.create_async_generator("", MESSAGES)] == ["Hello"]
    assert len(acytoo_server.requests) == 2


async def test_url_from_environment(
    acytoo_server: AcytooTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACYTOO_URL", acytoo_server.url)
    assert [t async for t in Acytoo.create_async_generator("", MESSAGES)] == ["Hello"]
    assert len(acytoo_server.requests) == 1


async def test_per_call_url_beats_the_environment(
    acytoo_server: AcytooTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACYTOO_URL", "http://127.0.0.1:1")
    assert await chunks_from(acytoo_server) == ["Hello"]


# --- the answer ---------------------------------------------------------------------------


async def test_chunks_arrive_in_order(acytoo_server: AcytooTestServer) -> None:
    parts = [f"part {i}, ".encode() for i in range(50)]
    acytoo_server.reply(Reply(chunks=parts))
    texts = await chunks_from(acytoo_server)
    assert "".join(texts) == b"".join(parts).decode()
    assert all(texts)


async def test_create_async_joins_the_answer(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"Hel", b"lo ", b"w\xc3", b"\xb6rld"]))
    assert await Acytoo.create_async("", MESSAGES, url=acytoo_server.url) == "Hello wörld"


MIXED_TEXT = "a\u00e9\u20ac\U0001f600b\u0416\u4e16\U0001d11e"  # 1-, 2-, 3- and 4-byte characters


@pytest.mark.parametrize("cut", range(len(MIXED_TEXT.encode()) + 1))
async def test_utf8_split_at_every_byte_offset(acytoo_server: AcytooTestServer, cut: int) -> None:
    data = MIXED_TEXT.encode()
    acytoo_server.reply(Reply(chunks=[data[:cut], data[cut:]]))
    texts = await chunks_from(acytoo_server)
    assert "".join(texts) == MIXED_TEXT
    assert all(texts)
    assert not any("\ufffd" in text for text in texts)


_any_width_text = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),
        st.characters(min_codepoint=0x80, max_codepoint=0x7FF),
        st.characters(min_codepoint=0x800, max_codepoint=0xFFFF, exclude_categories=("Cs",)),
        st.characters(min_codepoint=0x10000),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_any_width_text, data=st.data())
async def test_utf8_random_splits_property(
    acytoo_server: AcytooTestServer, text: str, data: st.DataObject
) -> None:
    encoded = text.encode()
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(encoded)), max_size=8))))
    bounds = [0, *cuts, len(encoded)]
    pieces = [encoded[a:b] for a, b in itertools.pairwise(bounds)]
    acytoo_server.reply(Reply(chunks=[p for p in pieces if p]))
    texts = await chunks_from(acytoo_server)
    assert "".join(texts) == text
    assert all(texts)
    if "\ufffd" not in text:
        assert not any("\ufffd" in t for t in texts)


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain; charset=latin-1", "Café crème, señor"),
        ("text/plain; charset=iso-8859-1", "Grüße"),
        ("text/plain; charset=cp1251", "Привет, мир"),
        ("text/plain; charset=windows-1251", "Ёжик"),
        ("text/plain; charset=utf-8", "Grüße 😀"),
        ("text/plain", "Grüße 😀"),
        (None, "no Content-Type at all: Grüße 😀"),
        ("text/plain; charset=no-such-charset", "unknown label falls back: Grüße"),
        ("text/plain; charset=base64", "not a text codec: falls back to UTF-8 ü"),
        ("text/plain; charset=utf-16", "UTF-16 without a byte order mark: ü"),
    ],
)
async def test_charset_from_content_type(
    acytoo_server: AcytooTestServer, content_type: str | None, text: str
) -> None:
    charset = "utf-8"
    if content_type and "charset=" in content_type:
        charset = content_type.split("charset=")[1]
    charset = {"no-such-charset": "utf-8", "base64": "utf-8", "utf-16": "utf-16-be"}.get(
        charset, charset
    )
    encoded = text.encode(charset)
    acytoo_server.reply(Reply(chunks=[encoded[:3], encoded[3:]], content_type=content_type))
    assert "".join(await chunks_from(acytoo_server)) == text


async def test_no_content_type_header_really_absent(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=["ü".encode()], content_type=None))
    async with (
        aiohttp.ClientSession() as session,
        session.post(acytoo_server.url + "/api/completions", json={}) as response,
    ):
        assert "Content-Type" not in response.headers
        assert await response.read() == "ü".encode()


async def test_invalid_bytes_become_replacement_characters(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"ok \xff\xfe then", b" \xc3(", b" end \xe2\x82"]))
    text = "".join(await chunks_from(acytoo_server))
    assert text == "ok \ufffd\ufffd then \ufffd( end \ufffd"


async def test_empty_pieces_are_never_yielded(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"\xe2", b"\x82", b"\xac", b"\xf0\x9f", b"\x98\x80"]))
    texts = await chunks_from(acytoo_server)
    assert "".join(texts) == "€😀"
    assert all(texts)


async def test_empty_answer_yields_nothing(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[]))
    assert await chunks_from(acytoo_server) == []


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "lead"),
    [
        (
            401,
            b'{"msg":"No password or wrong password"}',
            acytoo.AuthenticationError,
            "No password or wrong password",
        ),
        (400, b'{"msg":"Not supported model X"}', acytoo.BadRequestError, "Not supported model X"),
        (
            403,
            b'{"error":{"message":"forbidden here","type":"x"}}',
            acytoo.PermissionDeniedError,
            "forbidden here",
        ),
        (404, b"", acytoo.NotFoundError, "Not Found"),
        (422, b"plain words", acytoo.UnprocessableEntityError, "Unprocessable"),
        (500, b'{"msg":"fetch failed"}', acytoo.InternalServerError, "fetch failed"),
        (
            502,
            b'{"error":{"message":"upstream down"}}',
            acytoo.InternalServerError,
            "upstream down",
        ),
    ],
)
async def test_error_status_raises_client_response_error(
    acytoo_server: AcytooTestServer,
    status: int,
    body: bytes,
    error: type[acytoo.APIStatusError],
    lead: str,
) -> None:
    acytoo_server.reply(Reply(status=status, chunks=[body], content_type="text/plain"))
    with pytest.raises(error) as caught:
        await chunks_from(acytoo_server, max_retries=0)
    exc = caught.value
    assert isinstance(exc, aiohttp.ClientResponseError)
    assert isinstance(exc, acytoo.AcytooError)
    assert exc.status == status
    assert str(exc).startswith(lead)
    assert f"HTTP {status}" in str(exc)
    assert exc.body == body.decode()
    if body:
        assert body.decode() in str(exc)
    assert len(acytoo_server.requests) == 1


async def test_error_message_carries_only_the_first_kib_of_the_body(
    acytoo_server: AcytooTestServer,
) -> None:
    body = ("x" * 1024 + "TAIL-NOT-SHOWN" + "y" * 5000).encode()
    acytoo_server.reply(Reply(status=400, chunks=[body], content_type="text/plain"))
    with pytest.raises(acytoo.BadRequestError) as caught:
        await chunks_from(acytoo_server)
    assert "x" * 1024 in str(caught.value)
    assert "TAIL-NOT-SHOWN" not in str(caught.value)
    assert caught.value.body == "x" * 1024


async def test_4xx_is_not_retried(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(status=400, chunks=[b'{"msg":"no"}']))
    with pytest.raises(acytoo.BadRequestError):
        await chunks_from(acytoo_server, retry_policy=FAST_RETRY)
    assert len(acytoo_server.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_retryable_status_is_retried_then_succeeds(
    acytoo_server: AcytooTestServer, status: int
) -> None:
    acytoo_server.reply(
        Reply(status=status, chunks=[b'{"msg":"busy"}']),
        Reply(status=status, chunks=[b'{"msg":"busy"}']),
        Reply(chunks=[b"finally"]),
    )
    assert await chunks_from(acytoo_server, retry_policy=FAST_RETRY) == ["finally"]
    assert len(acytoo_server.requests) == 3


async def test_retries_give_up_after_max_retries(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.default_reply = Reply(status=503, chunks=[b'{"msg":"down"}'])
    with pytest.raises(acytoo.InternalServerError, match=r"^down"):
        await chunks_from(acytoo_server, retry_policy=FAST_RETRY, max_retries=3)
    assert len(acytoo_server.requests) == 4
    acytoo_server.requests.clear()
    with pytest.raises(acytoo.InternalServerError):
        await chunks_from(acytoo_server, max_retries=0)
    assert len(acytoo_server.requests) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("header", [{"Retry-After": "0"}, {"retry-after-ms": "10"}])
async def test_retry_after_is_honoured(
    acytoo_server: AcytooTestServer, header: dict[str, str]
) -> None:
    # Backoff alone would wait 10 minutes: finishing at all proves Retry-After was used.
    slow_backoff = RetryPolicy(max_retries=1, initial_delay=600, max_delay=600)
    acytoo_server.reply(Reply(status=429, headers=header, chunks=[b"slow down"]), Reply())
    result = await asyncio.wait_for(chunks_from(acytoo_server, retry_policy=slow_backoff), 30)
    assert result == ["Hello"]
    assert len(acytoo_server.requests) == 2


async def test_no_retry_once_the_answer_started(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"partial answer"], ending="abort"))
    received: list[str] = []

    async def consume() -> None:
        async for text in Acytoo.create_async_generator(
            "", MESSAGES, url=acytoo_server.url, retry_policy=FAST_RETRY, max_retries=5
        ):
            received.append(text)

    with pytest.raises(acytoo.IncompleteResponseError):
        await consume()
    assert "".join(received) == "partial answer"
    assert len(acytoo_server.requests) == 1


# --- cancellation -------------------------------------------------------------------------


async def test_aclose_closes_the_server_side_stream(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    generator = Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url)
    assert await generator.__anext__() == "first"
    await generator.aclose()
    await acytoo_server.wait_disconnected()
    # The pool is healthy afterwards: the next call on the same session works.
    assert await chunks_from(acytoo_server) == ["Hello"]


async def test_break_out_of_async_for_closes_the_server_side_stream(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    async for text in Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url):
        assert text == "first"
        break
    # The abandoned generator is finalised by the loop, which closes the response.
    await acytoo_server.wait_disconnected()
    assert await chunks_from(acytoo_server) == ["Hello"]


async def test_cancelling_the_consuming_task_closes_the_stream(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url):
            started.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await acytoo_server.wait_disconnected()
    assert await chunks_from(acytoo_server) == ["Hello"]


# --- validation happens before any I/O ----------------------------------------------------

_BAD_CALLS: list[tuple[Any, dict[str, Any]]] = [
    ("not a list", {}),
    ([], {}),
    (["just a string"], {}),
    ([{"content": "no role"}], {}),
    ([{"role": "wizard", "content": "x"}], {}),
    ([{"role": "user", "content": 42}], {}),
    ([{"role": "user"}], {}),
    (MESSAGES, {"temperature": -0.1}),
    (MESSAGES, {"temperature": 2.01}),
    (MESSAGES, {"temperature": math.nan}),
    (MESSAGES, {"temperature": math.inf}),
    (MESSAGES, {"temperature": True}),
    (MESSAGES, {"temperature": "0.5"}),
    (MESSAGES, {"no_such_option": 1}),
    (MESSAGES, {"url": "ftp://127.0.0.1/"}),
    (MESSAGES, {"url": "not a url"}),
    (MESSAGES, {"url": ""}),
    (MESSAGES, {"url": 8000}),
    (MESSAGES, {"proxy": "nonsense"}),
    (MESSAGES, {"proxy": "ftp://127.0.0.1:21"}),
    (MESSAGES, {"proxy": 3128}),
    (MESSAGES, {"timeout": -1}),
    (MESSAGES, {"timeout": "soon"}),
    (MESSAGES, {"max_retries": -1}),
    (MESSAGES, {"max_retries": 1.5}),
    (MESSAGES, {"retry_policy": "twice"}),
    (MESSAGES, {"session": "not a session"}),
    (MESSAGES, {"key": 123}),
    (MESSAGES, {"password": 5}),
    (MESSAGES, {"model_argument": 7}),
]


@pytest.mark.parametrize(("messages", "options"), _BAD_CALLS)
async def test_bad_input_is_rejected_before_any_io(
    acytoo_server: AcytooTestServer, messages: Any, options: dict[str, Any]
) -> None:
    options = dict(options)
    model = options.pop("model_argument", "")
    options.setdefault("url", acytoo_server.url)
    with pytest.raises(acytoo.InvalidRequestError) as caught:
        await Acytoo.create_async(model, messages, **options)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)
    assert acytoo_server.requests == []


# --- an injected session ------------------------------------------------------------------


async def test_injected_session_is_used_and_left_open(acytoo_server: AcytooTestServer) -> None:
    async with aiohttp.ClientSession(headers={"X-Injected": "yes"}) as session:
        for _ in range(2):
            assert await chunks_from(acytoo_server, session=session) == ["Hello"]
        assert not session.closed
        assert [r.headers.get("X-Injected") for r in acytoo_server.requests] == ["yes", "yes"]
        # The library's headers still win over the session's defaults.
        assert acytoo_server.requests[0].headers["accept"] == "*/*"
