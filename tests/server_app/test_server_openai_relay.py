"""/v1 as a pass-through to an OpenAI-compatible upstream, driven by the official openai SDK.

The upstream is the scripted one on loopback (tests/servers/openai_upstream.py):
it records what it received, so every test checks both directions.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from server_helpers import AcytooUpstream, drain, running_upstream

from acytoo.server import build_backend
from servers._scripted import running
from servers.openai_upstream import (
    DEFAULT_ANSWER,
    USAGE,
    JSONReply,
    OpenAIUpstream,
    SSEReply,
    chunk,
    completion,
    error_reply,
    text_events,
    tool_call_events,
)

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def openai_backend(*urls: str) -> Any:
    return build_backend("openai", list(urls), max_retries=0)


def client_of(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.fixture
async def relay(start_server, openai_upstream: OpenAIUpstream) -> Any:
    """A server relaying to the scripted upstream."""
    return await start_server(openai_backend(openai_upstream.base_url))


async def test_tool_call_round_trip_streamed(relay, openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(
        SSEReply(tool_call_events("get_weather", ['{"ci', 'ty": "Par', 'is"}'])),
        SSEReply(text_events(["It is ", "sunny."])),
    )
    async with client_of(relay.url) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=USER, tools=TOOLS, tool_choice="auto", stream=True
        )
        chunks = [item async for item in stream]
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        calls = [call for delta in deltas for call in delta.tool_calls or ()]
        assert calls[0].id == "call_test_1"
        assert calls[0].function is not None
        assert calls[0].function.name == "get_weather"
        arguments = "".join(call.function.arguments or "" for call in calls if call.function)
        assert json.loads(arguments) == {"city": "Paris"}
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        assert chunks[0].system_fingerprint == "fp_test"

        follow_up: list[Any] = [
            *USER,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_test_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_test_1", "content": '{"sky": "clear"}'},
        ]
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=follow_up, tools=TOOLS, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "It is sunny."
    first, second = openai_upstream.chat_requests
    assert first.json["tools"] == TOOLS
    assert first.json["tool_choice"] == "auto"
    assert second.json["messages"] == follow_up
    assert second.json["messages"][1]["content"] is None


async def test_tool_calls_not_streamed(relay, openai_upstream: OpenAIUpstream) -> None:
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    openai_upstream.reply(JSONReply(completion(None, "gpt-4o", tool_calls=[call])))
    async with client_of(relay.url) as client:
        answer = await client.chat.completions.create(model="gpt-4o", messages=USER, tools=TOOLS)
    (choice,) = answer.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (got,) = choice.message.tool_calls
    assert (got.id, got.function.name, got.function.arguments) == (
        "call_9",
        "get_weather",
        '{"city": "Oslo"}',
    )
    assert answer.usage is not None
    assert answer.usage.model_dump() == {
        **USAGE,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }


async def test_response_format_and_sampling_parameters_arrive(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    async with client_of(relay.url) as client:
        await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            response_format=schema,  # type: ignore[arg-type]
            stop=["\n\n"],
            seed=7,
            top_p=0.5,
            presence_penalty=0.25,
            frequency_penalty=-0.5,
            user="u-1",
        )
    sent = openai_upstream.chat_requests[0].json
    assert sent["response_format"] == schema
    assert (sent["stop"], sent["seed"], sent["top_p"], sent["user"]) == (["\n\n"], 7, 0.5, "u-1")
    assert (sent["presence_penalty"], sent["frequency_penalty"]) == (0.25, -0.5)


async def test_n_choices_streamed_and_not(relay, openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.answer = "one two"
    async with client_of(relay.url) as client:
        whole = await client.chat.completions.create(model="m", messages=USER, n=2)
        stream = await client.chat.completions.create(model="m", messages=USER, n=2, stream=True)
        texts: dict[int, str] = {}
        async for item in stream:
            for choice in item.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    assert [c.index for c in whole.choices] == [0, 1]
    assert [c.message.content for c in whole.choices] == ["one two", "one two"]
    assert texts == {0: "one two", 1: "one two"}
    assert [r.json["n"] for r in openai_upstream.chat_requests] == [2, 2]


async def test_logprobs_and_refusal_are_relayed(relay, openai_upstream: OpenAIUpstream) -> None:
    logprobs = {
        "content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]
    }
    openai_upstream.reply(
        SSEReply(
            [
                chunk("Hi", role="assistant", logprobs=logprobs),
                chunk(finish_reason="stop"),
            ]
        ),
        JSONReply(
            {
                **completion(None),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "refusal": "No."},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
            }
        ),
    )
    async with client_of(relay.url) as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, logprobs=True, top_logprobs=2, stream=True
        )
        chunks = [item async for item in stream]
        refused = await client.chat.completions.create(model="m", messages=USER)
    got = chunks[0].choices[0].logprobs
    assert got is not None
    assert got.content is not None
    assert (got.content[0].token, got.content[0].logprob) == ("Hi", -0.1)
    assert refused.choices[0].message.refusal == "No."
    assert openai_upstream.chat_requests[0].json["top_logprobs"] == 2


async def test_usage_is_the_upstreams_with_and_without_include_usage(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    async with client_of(relay.url) as client:
        with_usage = await client.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [item async for item in with_usage]
        without = await client.chat.completions.create(model="m", messages=USER, stream=True)
        plain = [item async for item in without]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == USAGE["total_tokens"]
    assert all(item.usage is None for item in plain)
    assert openai_upstream.chat_requests[0].json["stream_options"] == {"include_usage": True}
    assert "stream_options" not in openai_upstream.chat_requests[1].json


async def test_unknown_fields_pass_both_ways(relay, openai_upstream: OpenAIUpstream) -> None:
    future = {"reasoning": {"effort": "high"}, "prediction_v9": [1, None, "ü"]}
    openai_upstream.reply(
        SSEReply([chunk("x", role="assistant", vendor_trace="abc", citations=["u"])]),
        JSONReply({**completion("y"), "brand_new_field": {"deep": [1, 2]}}),
    )
    async with client_of(relay.url) as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, stream=True, extra_body=future
        )
        (first,) = [item async for item in stream]
        whole = await client.chat.completions.create(model="m", messages=USER, extra_body=future)
    assert first.model_extra == {"vendor_trace": "abc", "citations": ["u"]}
    assert whole.model_extra == {"brand_new_field": {"deep": [1, 2]}}
    for received in openai_upstream.chat_requests:
        assert {k: received.json[k] for k in future} == future


async def test_the_stream_is_relayed_byte_for_byte(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    # Cut at odd offsets (inside events, inside a multi-byte character), with CRLFs,
    # comments and named events: the client still gets exactly the upstream's bytes.
    reply = SSEReply(
        [": keep-alive\n\n", *text_events(["Grüß ", "dich ✓"]), "event: ping\ndata: {}\n\n"],
        line_ending="\r\n",
        split=[3, 40, 41, 97, 180, 181, 182, 250],
    )
    openai_upstream.reply(reply)
    body = {"model": "m", "messages": USER, "stream": True}
    async with http.post(f"{relay.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        received = await response.read()
    assert received == reply.body()


async def test_upstream_error_event_mid_stream(relay, openai_upstream: OpenAIUpstream) -> None:
    error = {"error": {"message": "the model is overloaded", "type": "server_error"}}
    openai_upstream.reply(SSEReply([*text_events(["partial "])[:2], error], done=False))
    async with client_of(relay.url) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        got: list[str] = []
        with pytest.raises(openai.APIError, match="overloaded"):
            await drain(stream, got)
    assert "".join(c.choices[0].delta.content or "" for c in got) == "partial "


async def test_upstream_cut_mid_event_ends_with_an_error_event(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    events = text_events(["one ", "two"])
    whole = SSEReply(events, done=False).body()
    cut = whole.index(b"two") + 1  # inside the last text event
    openai_upstream.reply(SSEReply(events, done=False, split=[cut], ending="abort"))
    body = {"model": "m", "messages": USER, "stream": True}
    async with http.post(f"{relay.url}/v1/chat/completions", json=body) as response:
        received = await response.read()
    head, _, last = received.rpartition(b"data: ")
    # Everything before the cut event is relayed as is; the half event is dropped.
    assert whole.startswith(head)
    assert json.loads(last)["error"]["type"] == "upstream_error"
    async with client_of(relay.url) as client:
        openai_upstream.reply(SSEReply(events, done=False, split=[cut], ending="abort"))
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass


async def test_done_ends_the_answer_even_if_the_upstream_lingers(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    # [DONE] goes out, then the upstream keeps the body open: the client is not kept
    # waiting for it (the upstream holds for up to a minute; the read must end first).
    reply = SSEReply(text_events(["a", "b"]), split=10_000, ending="hold")
    openai_upstream.reply(reply)
    body = {"model": "m", "messages": USER, "stream": True}
    try:
        async with http.post(f"{relay.url}/v1/chat/completions", json=body) as response:
            received = await asyncio.wait_for(response.read(), 30)
    finally:
        openai_upstream.release()
    assert received == reply.body()


async def test_a_json_answer_to_a_stream_request_becomes_events(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    openai_upstream.reply(
        JSONReply(completion("hello", "gpt-4o")),
        JSONReply(completion(None, "gpt-4o", tool_calls=[call])),
    )
    async with client_of(relay.url) as client:
        stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        chunks = [item async for item in stream]
        calls = await client.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        call_chunks = [item async for item in calls]
    assert chunks[0].choices[0].delta.content == "hello"
    assert chunks[0].choices[0].finish_reason == "stop"
    assert all(item.usage is None for item in chunks)
    (got,) = call_chunks[0].choices[0].delta.tool_calls or []
    assert (got.index, got.id) == (0, "c1")
    assert call_chunks[-1].usage is not None
    assert call_chunks[-1].usage.total_tokens == 18


async def test_missing_model_becomes_the_default_and_the_allow_list_holds(
    start_server, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    server = await start_server(
        openai_backend(openai_upstream.base_url),
        default_model="llama3",
        allowed_models=("llama3", "gpt-4o"),
    )
    url = f"{server.url}/v1/chat/completions"
    raw = b'{"messages": [{"role": "user", "content": "hi"}], "x": 1}'
    async with http.post(url, data=raw, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 200
    async with http.post(url, json={"model": None, "messages": USER}) as response:
        assert response.status == 200
    async with http.post(url, json={"model": "gpt-5", "messages": USER}) as response:
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "model"
    first, second = openai_upstream.chat_requests
    assert first.body == b'{"model":"llama3",' + raw[1:]
    assert second.json == {"model": "llama3", "messages": USER}


async def test_failover_only_before_the_first_byte(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    async with running(OpenAIUpstream()) as second:
        server = await start_server(openai_backend(openai_upstream.base_url, second.base_url))
        openai_upstream.reply(error_reply(503, "overloaded"))
        async with client_of(server.url) as client:
            answer = await client.chat.completions.create(model="m", messages=USER, seed=1)
            assert answer.choices[0].message.content == DEFAULT_ANSWER
            # Once the first upstream has started answering, its failure is the answer's.
            openai_upstream.reply(SSEReply(text_events(["one "]), done=False, ending="abort"))
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            with pytest.raises(openai.APIError):
                async for _ in stream:
                    pass
        assert len(openai_upstream.chat_requests) == 2
        (relayed,) = second.chat_requests
        assert relayed.body == openai_upstream.chat_requests[0].body


async def test_server_keys_rotate_and_the_client_secret_stays_home(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    server = await start_server(
        openai_backend(openai_upstream.base_url),
        upstream_keys=("sk-one", "sk-two"),
        api_keys=("client-secret",),
    )
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="client-secret", max_retries=0
    ) as client:
        for _ in range(3):
            await client.chat.completions.create(model="m", messages=USER)
        await client.embeddings.create(model="e", input="x")
    assert [r.authorization for r in openai_upstream.requests] == [
        "Bearer sk-one",
        "Bearer sk-two",
        "Bearer sk-one",
        "Bearer sk-two",
    ]


async def test_upstream_status_errors_pass_through(relay, openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(error_reply(400, "Invalid schema for function 'get_weather'"))
    async with client_of(relay.url) as client:
        with pytest.raises(openai.BadRequestError, match="Invalid schema"):
            await client.chat.completions.create(model="m", messages=USER, tools=TOOLS)


async def test_an_upstream_error_passes_on_without_the_account(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    # OpenAI's 429 names the organisation; others echo keys and credentialed URLs.
    openai_upstream.reply(
        error_reply(
            429,
            "Rate limit reached for gpt-4o in organization org-R4nd0mOrgId123 on tokens per "
            "min; key sk-proj-abcDEF123456 via http://admin:hunter2@10.0.0.5/v1",
        )
    )
    async with client_of(relay.url) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
    message = str(caught.value)
    assert "Rate limit reached for gpt-4o in organization org-… on tokens per min" in message
    for secret in ("R4nd0mOrgId123", "abcDEF123456", "admin", "hunter2"):
        assert secret not in message


async def test_embeddings_are_relayed(relay, openai_upstream: OpenAIUpstream) -> None:
    async with client_of(relay.url) as client:
        result = await client.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
        )
    assert [item.index for item in result.data] == [0, 1]
    assert result.data[1].embedding == [0.25, -0.5, 1.0]
    (sent,) = openai_upstream.embedding_requests
    assert sent.json == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "float",
    }


async def test_embeddings_need_a_model_and_input(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    for body in ({"input": "x"}, {"model": "e"}, {"model": "e", "input": []}, {"model": 3}):
        async with http.post(f"{relay.url}/v1/embeddings", json=body) as response:
            assert response.status == 400, body
    assert openai_upstream.embedding_requests == []


async def test_an_upstream_error_after_the_first_chunk_of_a_json_answer(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(
        SSEReply(["{"], done=False, content_type="application/json", ending="abort")
    )
    async with client_of(relay.url) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == 502


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"role": "tool", "content": "x"}, "tool_call_id"),
        ({"role": "user", "content": None}, "content is required"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": 1}]}, "tool_calls[0]"),
        ({"role": "user", "content": "x", "tool_calls": []}, "only assistant"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {}}]}, "url"),
        ({"role": "user", "content": [{"type": "text"}]}, "content[0]"),
        ({"role": "user", "content": [{"type": "text", "text": 5}]}, "must be a string"),
        ({"role": "user", "content": 5}, "string or a list"),
        ({"role": "robot", "content": "x"}, "role"),
        ({"role": "user", "content": "x", "name": 3}, "name"),
        ({"role": "function", "content": "x"}, "name"),
    ],
)
async def test_malformed_messages_are_400_not_500(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession, message, why
) -> None:
    body = {"model": "m", "messages": [message]}
    async with http.post(f"{relay.url}/v1/chat/completions", json=body) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["param"] == "messages"
    assert why in error["message"]
    assert openai_upstream.chat_requests == []


async def test_rich_messages_are_accepted(relay, openai_upstream: OpenAIUpstream) -> None:
    messages: list[Any] = [
        {"role": "developer", "content": "Be brief.", "name": "ops"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"role": "function", "name": "legacy", "content": None},
    ]
    async with client_of(relay.url) as client:
        await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert openai_upstream.chat_requests[0].json["messages"] == messages


# ------------------------------------------------ backends that carry text only


@pytest.fixture(params=["local", "acytoo"])
async def text_only(request, start_server) -> Any:
    """A server whose backend answers with text only: the offline assistant or an Acytoo upstream."""
    if request.param == "local":
        yield await start_server(build_backend("local"))
        return
    async with running_upstream(AcytooUpstream()) as upstream:
        yield await start_server(build_backend("acytoo", [upstream.url], max_retries=0))


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("tools", TOOLS),
        ("tool_choice", "required"),
        ("response_format", {"type": "json_object"}),
        ("seed", 1),
        ("stop", ["\n"]),
        ("top_p", 0.5),
        ("presence_penalty", 1),
        ("frequency_penalty", 0.5),
        ("logprobs", True),
        ("n", 2),
        ("a_parameter_from_the_future", {"x": 1}),
    ],
)
async def test_text_only_backends_refuse_what_they_cannot_honour(
    text_only, param: str, value: object
) -> None:
    async with client_of(text_only.url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="m", messages=USER, extra_body={param: value}
            )
    assert caught.value.param == param
    assert caught.value.status_code == 400


async def test_text_only_backends_accept_what_changes_nothing(text_only) -> None:
    async with client_of(text_only.url) as client:
        answer = await client.chat.completions.create(
            model="m",
            messages=USER,
            user="u-1",
            top_p=1,
            presence_penalty=0,
            frequency_penalty=0,
            logprobs=False,
            tools=[],
            tool_choice="none",
            response_format={"type": "text"},
            metadata={"k": "v"},
            n=1,
            seed=None,
        )
    assert answer.choices[0].message.content


async def test_text_only_backends_refuse_tool_messages(text_only, http) -> None:
    messages = [*USER, {"role": "tool", "tool_call_id": "c", "content": "x"}]
    body = {"model": "m", "messages": messages}
    async with http.post(f"{text_only.url}/v1/chat/completions", json=body) as response:
        assert response.status == 400
        assert (await response.json())["error"]["param"] == "messages"


async def test_text_only_backends_have_no_embeddings(text_only) -> None:
    async with client_of(text_only.url) as client:
        with pytest.raises(openai.BadRequestError, match="embeddings"):
            await client.embeddings.create(model="e", input="x")


async def test_an_upstream_cookie_does_not_follow_other_clients(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    # The upstream connection pool is shared by every client of the server. (By
    # name: aiohttp's cookie jar ignores cookies from IP addresses anyway.)
    base_url = openai_upstream.base_url.replace("127.0.0.1", "localhost")
    server = await start_server(openai_backend(base_url))
    openai_upstream.reply(JSONReply(completion("a"), headers={"Set-Cookie": "session=alice"}))
    async with client_of(server.url) as client:
        await client.chat.completions.create(model="m", messages=USER)
        await client.chat.completions.create(model="m", messages=USER)
    assert [r.headers.get("Cookie") for r in openai_upstream.chat_requests] == [None, None]


# ------------------------------------------------ model aliases (the one rewrite of answers)


@pytest.fixture
async def aliased(start_server, openai_upstream: OpenAIUpstream) -> Any:
    return await start_server(
        openai_backend(openai_upstream.base_url),
        model_aliases=(("fast", "gpt-4o-mini"),),
        allowed_models=("fast", "gpt-4o"),
    )


async def test_an_alias_goes_upstream_under_the_upstreams_name(
    aliased, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(
        SSEReply(
            [": comment\n\n", *tool_call_events("f", ['{"a"', ": 1}"], model="gpt-4o-mini")],
            line_ending="\r\n",
            split=7,
        )
    )
    async with client_of(aliased.url) as client:
        stream = await client.chat.completions.create(
            model="fast", messages=USER, stream=True, extra_body={"future": 1}
        )
        chunks = [item async for item in stream]
        whole = await client.chat.completions.create(model="fast", messages=USER)
        plain = await client.chat.completions.create(model="gpt-4o", messages=USER)
        vectors = await client.embeddings.create(model="fast", input="x")
        listed = [model.id async for model in client.models.list()]
    assert {item.model for item in chunks} == {"fast"}
    arguments = "".join(
        call.function.arguments or ""
        for item in chunks
        for call in item.choices[0].delta.tool_calls or ()
        if call.function
    )
    assert arguments == '{"a": 1}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert (whole.model, plain.model, vectors.model) == ("fast", "gpt-4o", "fast")
    assert listed == ["fast", "gpt-4o"]
    sent = [r.json["model"] for r in openai_upstream.requests if r.method == "POST"]
    assert sent == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "gpt-4o-mini"]
    assert openai_upstream.chat_requests[0].json["future"] == 1


async def test_an_alias_mid_stream_failure_is_still_an_error_event(
    aliased, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(SSEReply(text_events(["one "]), done=False, ending="abort"))
    async with client_of(aliased.url) as client:
        stream = await client.chat.completions.create(model="fast", messages=USER, stream=True)
        got: list[Any] = []
        with pytest.raises(openai.APIError):
            await drain(stream, got)
    assert "".join(c.choices[0].delta.content or "" for c in got) == "one "


async def test_an_alias_on_a_text_only_backend(start_server) -> None:
    async with running_upstream(AcytooUpstream()) as upstream:
        server = await start_server(
            build_backend("acytoo", [upstream.url], max_retries=0),
            model_aliases=(("fast", "gpt-4o-mini"),),
        )
        async with client_of(server.url) as client:
            answer = await client.chat.completions.create(model="fast", messages=USER)
    assert answer.model == "fast"
    assert upstream.requests[0]["model"] == "gpt-4o-mini"
