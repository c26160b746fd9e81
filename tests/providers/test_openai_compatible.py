"""OpenAICompatible against a real OpenAI-compatible upstream on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import acytoo
from acytoo import OpenAICompatible, RetryPolicy, Timeout
from servers.openai_upstream import (
    JSONReply,
    OpenAIUpstream,
    SSEReply,
    chunk,
    completion,
    error_body,
    error_reply,
    text_events,
)
from servers.proxies import ProxyProcess

MESSAGES: list[acytoo.Message] = [{"role": "user", "content": "Hello, upstream!"}]
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
PIECES = ["Hé", "llo", ", ", "wörld", " ✓", " 😀"]
ANSWER = "".join(PIECES)


def provider(upstream: OpenAIUpstream, **options: Any) -> type[acytoo.AsyncGeneratorProvider]:
    options.setdefault("api_key", "sk-test")
    options.setdefault("retry_policy", FAST_RETRY)
    return OpenAICompatible.configure(base_url=upstream.base_url, **options)


async def stream(
    upstream: OpenAIUpstream, model: str = "gpt-3.5-turbo", **options: Any
) -> list[str]:
    return [t async for t in provider(upstream, **options).create_async_generator(model, MESSAGES)]


async def collect_until_error(upstream: OpenAIUpstream, into: list[str], **options: Any) -> None:
    async for text in provider(upstream, **options).create_async_generator("m", MESSAGES):
        into.append(text)


# --- the request, as the upstream received it --------------------------------------------


async def test_request_as_received(openai_upstream: OpenAIUpstream) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi ✓", "createdAt": 1700000000},
    ]
    answer = provider(openai_upstream).create_async_generator("gpt-4o-mini", messages)  # type: ignore[arg-type]
    assert "".join([t async for t in answer]) == "Hello from the upstream! ✓"
    [received] = openai_upstream.requests
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.authorization == "Bearer sk-test"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Accept"] == "text/event-stream"
    # Only role and content go upstream; extra per-message fields are dropped.
    assert received.json == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi ✓"},
        ],
        "stream": True,
    }
    assert "Hi ✓".encode() in received.body  # UTF-8 JSON, not \\u escapes


async def test_temperature_and_max_tokens_are_sent(openai_upstream: OpenAIUpstream) -> None:
    await stream(openai_upstream, temperature=0.2, max_tokens=7)
    body = openai_upstream.requests[0].json
    assert (body["temperature"], body["max_tokens"]) == (0.2, 7)


async def test_empty_model_means_the_default(openai_upstream: OpenAIUpstream) -> None:
    await stream(openai_upstream, model="")
    assert openai_upstream.requests[0].json["model"] == "gpt-3.5-turbo"


async def test_no_api_key_sends_no_authorization(
    openai_upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    await stream(openai_upstream, api_key="")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    await stream(openai_upstream, api_key="")  # an explicit empty key beats the environment
    assert [r.authorization for r in openai_upstream.requests] == [None, None]


async def test_api_key_from_environment_goes_only_to_its_own_origin(
    openai_upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one rule (providers/_env_keys.py): OPENAI_API_KEY goes to OpenAI or to
    # OPENAI_BASE_URL's origin, never to another base URL named in code or config.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert await OpenAICompatible.create_async("m", MESSAGES, base_url=openai_upstream.base_url)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")  # another origin
    assert await OpenAICompatible.create_async("m", MESSAGES, base_url=openai_upstream.base_url)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_upstream.base_url.replace("/v1", "/other"))
    assert await OpenAICompatible.create_async("m", MESSAGES, base_url=openai_upstream.base_url)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_upstream.base_url)
    assert await OpenAICompatible.list_models()
    assert [r.authorization for r in openai_upstream.requests] == [
        None,
        None,
        "Bearer sk-from-env",  # the same origin as OPENAI_BASE_URL (the path does not matter)
        "Bearer sk-from-env",
    ]


async def test_base_url_from_environment_and_per_call_override(
    openai_upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_upstream.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert await OpenAICompatible.create_async("m", MESSAGES)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert await OpenAICompatible.create_async(
        "m", MESSAGES, base_url=openai_upstream.base_url + "/"
    )
    assert [r.path for r in openai_upstream.requests] == ["/v1/chat/completions"] * 2


def test_configure_sets_defaults_url_and_name() -> None:
    Custom = OpenAICompatible.configure("Custom", base_url="http://127.0.0.1:9/v1", api_key="k")
    assert Custom.__name__ == "Custom"
    assert Custom.url == "http://127.0.0.1:9/v1"
    assert issubclass(Custom, OpenAICompatible)
    assert OpenAICompatible.url == "https://api.openai.com/v1"
    assert Custom.default_options == {"base_url": "http://127.0.0.1:9/v1", "api_key": "k"}


BAD_CALLS: list[tuple[Any, dict[str, Any]]] = [
    ([], {}),
    ([{"role": "robot", "content": "x"}], {}),
    ([{"role": "user", "content": 5}], {}),
    (MESSAGES, {"temperature": 2.5}),
    (MESSAGES, {"temperature": -0.1}),
    (MESSAGES, {"temperature": math.nan}),
    (MESSAGES, {"temperature": "0.5"}),
    (MESSAGES, {"max_tokens": 0}),
    (MESSAGES, {"max_tokens": 1.5}),
    (MESSAGES, {"max_tokens": True}),
    (MESSAGES, {"api_key": 123}),
    (MESSAGES, {"base_url": "ftp://127.0.0.1/v1"}),
    (MESSAGES, {"base_url": ""}),
    (MESSAGES, {"stream": False}),
    (MESSAGES, {"password": "x"}),
    (MESSAGES, {"timeout": -1}),
    (MESSAGES, {"max_retries": -1}),
    (MESSAGES, {"proxy": "nonsense"}),
]


@pytest.mark.parametrize(("messages", "options"), BAD_CALLS)
async def test_bad_input_is_rejected_before_any_io(
    openai_upstream: OpenAIUpstream, messages: Any, options: dict[str, Any]
) -> None:
    options.setdefault("base_url", openai_upstream.base_url)
    with pytest.raises(acytoo.InvalidRequestError):
        await OpenAICompatible.create_async("m", messages, **options)
    assert openai_upstream.requests == []


async def test_unknown_option_error_names_it_and_the_accepted_ones() -> None:
    with pytest.raises(acytoo.InvalidRequestError, match="password") as caught:
        await OpenAICompatible.create_async("m", MESSAGES, password="x")
    assert "base_url" in str(caught.value)
    assert "max_tokens" in str(caught.value)


# --- the streamed answer --------------------------------------------------------------------


async def test_chunks_arrive_in_order_and_empty_deltas_are_skipped(
    openai_upstream: OpenAIUpstream,
) -> None:
    usage = {"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": {}}
    openai_upstream.reply(SSEReply([*text_events(PIECES), chunk(""), usage]))
    assert await stream(openai_upstream) == PIECES


SSE_VARIANTS: dict[str, SSEReply] = {
    "byte by byte": SSEReply(text_events(PIECES), split=1),
    "7-byte writes": SSEReply(text_events(PIECES), split=7),
    "CRLF": SSEReply(text_events(PIECES), line_ending="\r\n", split=5),
    "CR": SSEReply(text_events(PIECES), line_ending="\r", split=3),
    "comments and pings": SSEReply(
        [": OPENROUTER PROCESSING\n\n", *text_events(PIECES), "event: ping\ndata: {}\n\n"]
    ),
    "no [DONE], clean end": SSEReply(text_events(PIECES), done=False),
    "no final blank line": SSEReply(
        [*text_events(PIECES[:-1]), f"data: {json.dumps(chunk(PIECES[-1]))}"], done=False
    ),
    "multi-line data": SSEReply(
        [
            *text_events(PIECES[:-1]),
            'data: {"choices": [{"index": 0,\ndata:  "delta": {"content": "'
            + PIECES[-1]
            + '"}}]}\n\n',
        ]
    ),
    "id, retry and an empty object": SSEReply(
        ["retry: 1000\n\n", "id: 1\ndata: {}\n\n", *text_events(PIECES)]
    ),
    "events after [DONE] are ignored": SSEReply(
        [*text_events(PIECES), "data: [DONE]\n\n", f"data: {json.dumps(chunk('late'))}\n\n"],
        done=False,
    ),
    "whitespace around the JSON and empty events": SSEReply(
        [
            "data:\n\n",
            "data: \n\n",
            *(f"data:   {json.dumps(c)} \t\n\n" for c in text_events(PIECES)),
        ]
    ),
    "[DONE] with spaces": SSEReply(
        [*text_events(PIECES), "data:  [DONE] \n\n", f"data: {json.dumps(chunk('late'))}\n\n"],
        done=False,
    ),
    "SSE labelled as JSON": SSEReply(text_events(PIECES), content_type="application/json"),
    "SSE labelled as text": SSEReply(text_events(PIECES), content_type="text/plain"),
    "no Content-Type charset, other SSE type": SSEReply(
        text_events(PIECES), content_type="text/event-stream; charset=utf-8"
    ),
}


@pytest.mark.parametrize("reply", SSE_VARIANTS.values(), ids=SSE_VARIANTS.keys())
async def test_sse_variants(openai_upstream: OpenAIUpstream, reply: SSEReply) -> None:
    openai_upstream.reply(reply)
    assert "".join(await stream(openai_upstream)) == ANSWER


@given(cuts=st.lists(st.integers(min_value=1, max_value=900), max_size=8))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_any_byte_split_of_the_stream(
    openai_upstream: OpenAIUpstream, cuts: list[int]
) -> None:
    openai_upstream.reply(SSEReply(text_events(PIECES), split=cuts, line_ending="\r\n"))
    assert "".join(await stream(openai_upstream)) == ANSWER


async def test_the_connection_is_reused_after_done(openai_upstream: OpenAIUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            assert await stream(openai_upstream, session=session)
    ports = {r.peer for r in openai_upstream.requests}
    assert len(openai_upstream.requests) == 3
    assert len(ports) == 1


async def test_after_done_the_body_is_read_to_its_end_for_reuse(
    openai_upstream: OpenAIUpstream,
) -> None:
    # [DONE] arrives, but the end of the chunked body only on release: the
    # provider reads up to it (as the openai SDK does) instead of dropping
    # the connection, so the next request reuses it.
    openai_upstream.reply(SSEReply(text_events(PIECES), split=100_000, ending="hold"))
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(stream(openai_upstream, session=session))
        await asyncio.wait_for(openai_upstream.streaming.wait(), 10)
        openai_upstream.release()
        assert "".join(await task) == ANSWER
        assert await stream(openai_upstream, session=session)
    assert not openai_upstream.disconnected.is_set()
    assert openai_upstream.requests[0].peer == openai_upstream.requests[1].peer


async def test_a_body_held_open_after_done_does_not_hold_the_answer(
    openai_upstream: OpenAIUpstream,
) -> None:
    # The upstream never ends the body after [DONE]: the answer still ends
    # (after a short, bounded drain) and the connection is dropped, not reused.
    openai_upstream.reply(SSEReply(text_events(PIECES), split=100_000, ending="hold"))
    async with aiohttp.ClientSession() as session:
        chunks = await asyncio.wait_for(stream(openai_upstream, session=session), 30)
    assert "".join(chunks) == ANSWER
    await openai_upstream.wait_disconnected()


async def test_create_async_joins_the_answer(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply(text_events(PIECES)))
    assert await provider(openai_upstream).create_async("m", MESSAGES) == ANSWER


# --- JSON where SSE was asked for ---------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
async def test_non_streamed_json_answer_is_accepted(
    openai_upstream: OpenAIUpstream, content_type: str
) -> None:
    openai_upstream.reply(JSONReply(completion("the whole answer"), content_type=content_type))
    assert await stream(openai_upstream) == ["the whole answer"]


async def test_json_answer_with_a_byte_order_mark(openai_upstream: OpenAIUpstream) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(completion("with BOM")).encode()
    openai_upstream.reply(JSONReply(body, content_type="text/plain"))
    assert await stream(openai_upstream) == ["with BOM"]


async def test_a_page_that_is_no_event_stream_raises_stream_error(
    openai_upstream: OpenAIUpstream,
) -> None:
    page = b"<!doctype html><html><body>Welcome to my chat UI</body></html>"
    openai_upstream.reply(JSONReply(page, content_type="text/html"))
    with pytest.raises(acytoo.StreamError, match=r"not answer with an event stream.*text/html"):
        await stream(openai_upstream)


async def test_an_empty_event_stream_is_an_empty_answer(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([], done=False))
    assert await stream(openai_upstream) == []


async def test_json_error_object_with_200_raises_stream_error(
    openai_upstream: OpenAIUpstream,
) -> None:
    openai_upstream.reply(JSONReply(error_body("model overloaded", "server_error")))
    with pytest.raises(acytoo.StreamError, match="model overloaded"):
        await stream(openai_upstream)


async def test_unexpected_json_raises_stream_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(JSONReply({"hello": "world"}))
    with pytest.raises(acytoo.StreamError, match="unexpected completion"):
        await stream(openai_upstream)


# --- errors --------------------------------------------------------------------------------


async def test_error_event_mid_stream_raises_after_the_earlier_text(
    openai_upstream: OpenAIUpstream,
) -> None:
    error = error_body("The server had an error while processing your request.", "server_error")
    openai_upstream.reply(SSEReply([*text_events(PIECES)[:3], error], split=4))
    received: list[str] = []
    with pytest.raises(acytoo.StreamError) as caught:
        await collect_until_error(openai_upstream, received)
    assert "".join(received) == "".join(PIECES[:2])
    assert "The server had an error while processing your request." in str(caught.value)
    assert caught.value.body == error
    assert len(openai_upstream.requests) == 1  # never retried once text was delivered


async def test_named_error_event_raises_stream_error(openai_upstream: OpenAIUpstream) -> None:
    named = 'event: error\ndata: {"error": {"message": "rate limited mid-stream"}}\n\n'
    openai_upstream.reply(SSEReply([chunk("partial"), named]))
    received: list[str] = []
    with pytest.raises(acytoo.StreamError, match="rate limited mid-stream"):
        await collect_until_error(openai_upstream, received)
    assert received == ["partial"]


async def test_non_json_data_raises_a_clear_stream_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([chunk("ok"), "data: <html>oops</html>\n\n"]))
    received: list[str] = []
    with pytest.raises(acytoo.StreamError, match=r"not JSON.*<html>oops</html>"):
        await collect_until_error(openai_upstream, received)
    assert received == ["ok"]


async def test_data_after_the_json_raises_stream_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([chunk("ok"), f"data: {json.dumps(chunk('x'))} tail\n\n"]))
    received: list[str] = []
    with pytest.raises(acytoo.StreamError, match="not JSON"):
        await collect_until_error(openai_upstream, received)
    assert received == ["ok"]


async def test_body_cut_short_without_done_is_an_incomplete_response(
    openai_upstream: OpenAIUpstream,
) -> None:
    openai_upstream.reply(SSEReply(text_events(PIECES), done=False, ending="abort"))
    received: list[str] = []
    with pytest.raises(acytoo.IncompleteResponseError):
        await collect_until_error(openai_upstream, received, max_retries=0)
    assert ANSWER.startswith("".join(received))


STATUS_ERRORS = [
    (400, acytoo.BadRequestError, "Invalid value for 'model'"),
    (401, acytoo.AuthenticationError, "Incorrect API key provided: sk-te**."),
    (403, acytoo.PermissionDeniedError, "Country not supported"),
    (404, acytoo.NotFoundError, "The model `nope` does not exist"),
    (429, acytoo.RateLimitError, "Rate limit reached for requests"),
    (500, acytoo.InternalServerError, "The server had an error"),
    (503, acytoo.InternalServerError, "The engine is currently overloaded"),
]


@pytest.mark.parametrize(("status", "error_type", "message"), STATUS_ERRORS)
async def test_error_statuses_map_to_exceptions(
    openai_upstream: OpenAIUpstream, status: int, error_type: type[Exception], message: str
) -> None:
    openai_upstream.reply(error_reply(status, message, headers={"Retry-After": "0"}))
    with pytest.raises(error_type) as caught:
        await stream(openai_upstream, max_retries=0)
    error = caught.value
    assert isinstance(error, acytoo.APIStatusError)
    assert isinstance(error, aiohttp.ClientResponseError)
    assert error.status == status
    assert str(error).startswith(message)  # the upstream's own explanation leads
    assert json.loads(error.body)["error"]["message"] == message
    assert error.url == openai_upstream.base_url + "/chat/completions"


async def test_wrong_api_key_is_an_authentication_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.api_keys = {"sk-right"}
    with pytest.raises(acytoo.AuthenticationError, match="Incorrect API key provided"):
        await stream(openai_upstream, api_key="sk-wrong")
    assert "".join(await stream(openai_upstream, api_key="sk-right"))


async def test_non_retryable_status_is_sent_once(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(error_reply(401, "Incorrect API key provided."))
    with pytest.raises(acytoo.AuthenticationError):
        await stream(openai_upstream)
    assert len(openai_upstream.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502])
async def test_retryable_status_before_the_first_byte_is_retried(
    openai_upstream: OpenAIUpstream, status: int
) -> None:
    openai_upstream.reply(
        error_reply(status, "try again", headers={"Retry-After": "0"}),
        error_reply(status, "try again", headers={"retry-after-ms": "1"}),
        SSEReply(text_events(PIECES)),
    )
    assert "".join(await stream(openai_upstream)) == ANSWER
    assert len(openai_upstream.requests) == 3
    assert len({r.body for r in openai_upstream.requests}) == 1  # the same request each time


async def test_retries_give_up_with_the_last_error(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(*[error_reply(500, f"failure {i}") for i in range(3)])
    with pytest.raises(acytoo.InternalServerError, match="failure 2"):
        await stream(openai_upstream, max_retries=2)
    assert len(openai_upstream.requests) == 3


async def test_unreachable_upstream_raises_connect_error() -> None:
    Unreachable = OpenAICompatible.configure(base_url="http://127.0.0.1:1/v1", api_key="")
    with pytest.raises(acytoo.ConnectError):
        await Unreachable.create_async("m", MESSAGES, max_retries=0)


async def test_read_timeout_mid_stream(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([chunk("first")], ending="hold"))
    received: list[str] = []
    with pytest.raises(acytoo.ReadTimeout):
        # Generous enough that the first chunk cannot time out even on a loaded machine.
        await collect_until_error(
            openai_upstream, received, timeout=Timeout(read=1.0), max_retries=0
        )
    assert received == ["first"]


# --- cancellation closes the upstream stream ------------------------------------------------


async def test_aclose_closes_the_upstream_stream(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([chunk("first"), chunk("second")], ending="hold"))
    answer = provider(openai_upstream).create_async_generator("m", MESSAGES)
    assert await answer.__anext__() == "first"
    await answer.aclose()  # type: ignore[attr-defined]
    await openai_upstream.wait_disconnected()


async def test_cancelling_the_consumer_closes_the_upstream_stream(
    openai_upstream: OpenAIUpstream,
) -> None:
    openai_upstream.reply(SSEReply([chunk("first")], ending="hold"))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in provider(openai_upstream).create_async_generator("m", MESSAGES):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await openai_upstream.wait_disconnected()


async def test_cancelling_before_the_first_byte_closes_the_request(
    openai_upstream: OpenAIUpstream,
) -> None:
    gate = asyncio.Event()  # never set: the upstream holds back its answer
    openai_upstream.reply(SSEReply(text_events(PIECES), gate=gate))
    task = asyncio.create_task(stream(openai_upstream))
    await asyncio.wait_for(openai_upstream.received.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await openai_upstream.wait_disconnected()


# --- models ----------------------------------------------------------------------------------


async def test_list_models(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.models = ["llama3", "qwen2.5"]
    assert await provider(openai_upstream).list_models() == ["llama3", "qwen2.5"]
    [received] = openai_upstream.requests
    assert (received.method, received.path, received.body) == ("GET", "/v1/models", b"")
    assert received.authorization == "Bearer sk-test"


async def test_list_models_errors(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply_models(
        error_reply(401, "Incorrect API key provided."), JSONReply({"object": "list"})
    )
    with pytest.raises(acytoo.AuthenticationError, match="Incorrect API key"):
        await provider(openai_upstream).list_models()
    with pytest.raises(acytoo.StreamError, match="unexpected model list"):
        await provider(openai_upstream).list_models()


async def test_list_models_retries_before_the_first_byte(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply_models(error_reply(503, "busy", headers={"Retry-After": "0"}))
    assert await provider(openai_upstream).list_models() == ["gpt-3.5-turbo", "gpt-4o-mini"]
    assert len(openai_upstream.requests) == 2


# --- transport seams --------------------------------------------------------------------------


async def test_injected_session_is_used_and_left_open(openai_upstream: OpenAIUpstream) -> None:
    async with aiohttp.ClientSession(headers={"X-Injected": "yes"}) as session:
        assert await stream(openai_upstream, session=session)
        assert not session.closed
    assert openai_upstream.requests[0].headers["X-Injected"] == "yes"


async def test_through_an_http_proxy(
    openai_upstream: OpenAIUpstream, http_proxy: ProxyProcess
) -> None:
    answer = provider(openai_upstream).create_async_generator("m", MESSAGES, proxy=http_proxy.url)
    assert "".join([t async for t in answer]) == "Hello from the upstream! ✓"
    assert http_proxy.relayed_to(openai_upstream.port)


# --- the openai SDK reads the same stream the same way ---------------------------------------

CROSS_CHECK = {
    "plain": SSEReply(text_events(PIECES)),
    "split and CRLF": SSEReply(text_events(PIECES * 3), split=5, line_ending="\r\n"),
    "comments, no [DONE]": SSEReply([": hi\n\n", *text_events(PIECES)], done=False),
    "multi-line data": SSE_VARIANTS["multi-line data"],
}


@pytest.mark.parametrize("reply", CROSS_CHECK.values(), ids=CROSS_CHECK.keys())
async def test_same_text_as_the_openai_sdk(
    openai_upstream: OpenAIUpstream, reply: SSEReply
) -> None:
    openai_upstream.reply(reply, reply)
    ours = "".join(await stream(openai_upstream))
    async with openai.AsyncOpenAI(
        base_url=openai_upstream.base_url, api_key="sk-test", max_retries=0
    ) as client:
        sdk_stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hello"}], stream=True
        )
        theirs = "".join([c.choices[0].delta.content or "" async for c in sdk_stream if c.choices])
    assert ours == theirs
    assert ours.startswith(ANSWER)


async def test_the_openai_sdk_also_fails_on_the_error_event(
    openai_upstream: OpenAIUpstream,
) -> None:
    reply = SSEReply([chunk("partial"), error_body("boom", "server_error")])
    openai_upstream.reply(reply, reply)
    ours: list[str] = []
    with pytest.raises(acytoo.StreamError, match="boom"):
        await collect_until_error(openai_upstream, ours)
    theirs: list[str] = []
    async with openai.AsyncOpenAI(
        base_url=openai_upstream.base_url, api_key="sk-test", max_retries=0
    ) as client:
        sdk_stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hello"}], stream=True
        )

        async def read_sdk_stream() -> None:
            async for c in sdk_stream:
                theirs.append(c.choices[0].delta.content or "")

        with pytest.raises(openai.APIError, match="boom"):
            await read_sdk_stream()
    assert "".join(ours) == "".join(theirs) == "partial"


def test_sync_path_matches_the_sync_openai_sdk(threaded_openai_upstream: OpenAIUpstream) -> None:
    upstream = threaded_openai_upstream
    reply = SSEReply(text_events(PIECES), split=3)
    upstream.reply(reply, reply)
    ours = list(provider(upstream).create_completion("m", MESSAGES))
    with openai.OpenAI(base_url=upstream.base_url, api_key="sk-test", max_retries=0) as client:
        sdk_stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hello"}], stream=True
        )
        theirs = [c.choices[0].delta.content for c in sdk_stream if c.choices]
    assert "".join(ours) == "".join(t or "" for t in theirs) == ANSWER
    assert list(provider(upstream).create_completion("m", MESSAGES, stream=False)) == [
        "Hello from the upstream! ✓"
    ]


def test_sync_break_closes_the_upstream_stream(threaded_openai_upstream: OpenAIUpstream) -> None:
    upstream = threaded_openai_upstream
    upstream.reply(SSEReply([chunk("first"), chunk("second")], ending="hold"))
    answer = provider(upstream).create_completion("m", MESSAGES)
    for text in answer:
        assert text == "first"
        break
    answer.close()  # type: ignore[attr-defined]
    upstream.wait_disconnected_threadsafe()
