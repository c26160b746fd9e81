"""Edges of the /v1 pass-through: answers longer than one read, answers that are not
quite what was asked for, and aliased answers the relabelling cannot parse.

A read of the upstream's body takes at most 64 KiB, so answers past that size are
guaranteed to reach the relay in several pieces, whatever the machine's load.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from acytoo.server import build_backend
from servers.openai_upstream import (
    JSONReply,
    OpenAIUpstream,
    SSEReply,
    chunk,
    completion,
    error_body,
    text_events,
)

USER = [{"role": "user", "content": "Tell me a long story."}]
# Past one 64 KiB read, in several events.
LONG_PIECES = [f"part {i}: " + "é" * 1000 for i in range(120)]


def openai_backend(url: str) -> Any:
    return build_backend("openai", [url], max_retries=0)


@pytest.fixture
async def relay(start_server, openai_upstream: OpenAIUpstream) -> Any:
    return await start_server(openai_backend(openai_upstream.base_url))


@pytest.fixture
async def aliased(start_server, openai_upstream: OpenAIUpstream) -> Any:
    return await start_server(
        openai_backend(openai_upstream.base_url),
        model_aliases=(("fast", "gpt-4o-mini"),),
        allowed_models=("fast", "gpt-4o"),
    )


async def post(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, bytes]:
    async with http.post(f"{url}/v1/chat/completions", json=body) as response:
        return response.status, await response.read()


async def test_a_long_json_answer_is_relayed_whole(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    answer = completion("".join(LONG_PIECES), "gpt-4o")
    openai_upstream.reply(JSONReply(answer))
    status, received = await post(http, relay.url, {"model": "gpt-4o", "messages": USER})
    assert status == 200
    assert json.loads(received) == answer


async def test_a_long_json_answer_to_a_stream_request_becomes_events(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    text = "".join(LONG_PIECES)
    openai_upstream.reply(JSONReply(completion(text, "gpt-4o")))
    async with openai.AsyncOpenAI(
        base_url=f"{relay.url}/v1", api_key="unused", max_retries=0, timeout=30
    ) as client:
        stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        chunks = [item async for item in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


async def test_a_long_stream_cut_anywhere_and_ending_without_done(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    # Odd write sizes put read ends inside events (and inside "é"): the relay holds
    # back each unfinished event, and what it held at the end goes out as it came.
    reply = SSEReply(text_events(LONG_PIECES), done=False, split=9_973)
    openai_upstream.reply(reply)
    status, received = await post(http, relay.url, {"model": "m", "messages": USER, "stream": True})
    assert status == 200
    assert received == reply.body()
    assert not received.endswith(b"[DONE]\n\n")


async def test_a_long_stream_ending_in_an_unfinished_event_keeps_it(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    tail = 'data: {"partial": tr'  # no blank line: the upstream ended inside it
    reply = SSEReply([*text_events(LONG_PIECES), tail], done=False, split=7_001)
    openai_upstream.reply(reply)
    status, received = await post(http, relay.url, {"model": "m", "messages": USER, "stream": True})
    assert status == 200
    assert received == reply.body()
    assert received.endswith(tail.encode())


async def test_a_long_crlf_stream_with_done_is_relayed_byte_for_byte(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    reply = SSEReply(text_events(LONG_PIECES), line_ending="\r\n", split=8_191)
    openai_upstream.reply(reply)
    status, received = await post(http, relay.url, {"model": "m", "messages": USER, "stream": True})
    assert status == 200
    assert received == reply.body()
    assert received.endswith(b"data: [DONE]\r\n\r\n")


async def test_a_stream_request_answered_with_something_else_is_502(
    relay, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    openai_upstream.reply(JSONReply({"id": "x", "object": "list", "data": []}))
    status, received = await post(http, relay.url, {"model": "m", "messages": USER, "stream": True})
    assert status == 502
    error = json.loads(received)["error"]
    assert error["type"] == "upstream_error"
    assert "other than a completion" in error["message"]
    # The server keeps serving.
    openai_upstream.reply(JSONReply(completion("fine")))
    status, received = await post(http, relay.url, {"model": "m", "messages": USER})
    assert (status, json.loads(received)["choices"][0]["message"]["content"]) == (200, "fine")


async def test_an_error_document_to_a_stream_request_becomes_an_error_event(
    relay, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(JSONReply(error_body("quota exhausted", "insufficient_quota")))
    async with openai.AsyncOpenAI(
        base_url=f"{relay.url}/v1", api_key="unused", max_retries=0, timeout=30
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError, match="quota exhausted"):
            async for _ in stream:
                pass


async def test_an_aliased_stream_relabels_what_it_can_and_relays_the_rest(
    aliased, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    # Not JSON, JSON without "model", a named event, and no [DONE] at the end.
    events = [
        chunk("a", model="gpt-4o-mini"),
        "data: not json at all\n\n",
        'data: {"note": "no model here"}\n\n',
        "event: ping\ndata: [1, 2]\n\n",
        chunk("b", model="gpt-4o-mini"),
    ]
    openai_upstream.reply(SSEReply(events, done=False, split=5))
    status, received = await post(
        http, aliased.url, {"model": "fast", "messages": USER, "stream": True}
    )
    assert status == 200
    blocks = received.decode().split("\n\n")
    assert blocks[-1] == ""
    first, raw, plain, named, last = blocks[:-1]
    assert json.loads(first.removeprefix("data: "))["model"] == "fast"
    assert raw == "data: not json at all"
    assert json.loads(plain.removeprefix("data: ")) == {"note": "no model here"}
    assert named == "event: ping\ndata: [1, 2]"
    assert json.loads(last.removeprefix("data: "))["choices"][0]["delta"]["content"] == "b"
    assert openai_upstream.chat_requests[0].json["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    "document",
    [b'{"id": "x", "choices": []}', b"{not json, but it opens like it}"],
    ids=["no-model", "not-json"],
)
async def test_an_aliased_document_the_relabelling_cannot_use_is_relayed_as_is(
    aliased, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession, document: bytes
) -> None:
    openai_upstream.reply(JSONReply(document))
    status, received = await post(http, aliased.url, {"model": "fast", "messages": USER})
    assert (status, received) == (200, document)


async def test_a_long_aliased_document_is_relabelled(
    aliased, openai_upstream: OpenAIUpstream, http: aiohttp.ClientSession
) -> None:
    answer = completion("".join(LONG_PIECES), "gpt-4o-mini")
    openai_upstream.reply(JSONReply(answer))
    status, received = await post(http, aliased.url, {"model": "fast", "messages": USER})
    assert status == 200
    assert json.loads(received) == {**answer, "model": "fast"}
