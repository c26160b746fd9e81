"""Edges of OpenAICompatible against the real upstream on 127.0.0.1: odd JSON answers,
odd error events, what follows [DONE], and a subclass that names its own url."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import acytoo
from acytoo import OpenAICompatible, RetryPolicy
from servers.openai_upstream import (
    DEFAULT_ANSWER,
    JSONReply,
    OpenAIUpstream,
    SSEReply,
    chunk,
    completion,
)

MESSAGES: list[acytoo.Message] = [{"role": "user", "content": "Hello, upstream!"}]
NO_RETRY = RetryPolicy(max_retries=0)


async def stream(upstream: OpenAIUpstream) -> list[str]:
    provider = OpenAICompatible.configure(
        base_url=upstream.base_url, api_key="sk-test", retry_policy=NO_RETRY
    )
    return [text async for text in provider.create_async_generator("m", MESSAGES)]


async def collect(texts: AsyncIterator[str], into: list[str]) -> None:
    async for text in texts:
        into.append(text)


async def test_a_json_completion_without_text_is_an_empty_answer(
    openai_upstream: OpenAIUpstream,
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    openai_upstream.reply(JSONReply(completion(None, tool_calls=[call])))
    assert await stream(openai_upstream) == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b'{"choices": [', "application/json"), (b"", "application/json")],
    ids=["cut-json", "empty-json"],
)
async def test_a_json_answer_that_does_not_parse_is_a_stream_error(
    openai_upstream: OpenAIUpstream, body: bytes, content_type: str
) -> None:
    openai_upstream.reply(JSONReply(body, content_type=content_type))
    with pytest.raises(acytoo.StreamError, match="not valid JSON") as caught:
        await stream(openai_upstream)
    assert caught.value.body == body


async def test_a_long_json_answer_read_in_several_pieces(openai_upstream: OpenAIUpstream) -> None:
    text = "ü" * 100_000  # past one 64 KiB read
    openai_upstream.reply(JSONReply(completion(text)))
    assert await stream(openai_upstream) == [text]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("quota gone for today", "^quota gone for today$"),
        ('{"detail": "no error key"}', r'^the service reported an error: \{"detail"'),
        ('{"error": {"message": "", "code": 7}}', r"^the service reported an error: \{"),
    ],
    ids=["plain-text", "json-without-error", "empty-message"],
)
async def test_named_error_events_of_any_shape_raise_stream_error(
    openai_upstream: OpenAIUpstream, data: str, message: str
) -> None:
    openai_upstream.reply(SSEReply([chunk("before"), f"event: error\ndata: {data}\n\n"]))
    received: list[str] = []
    provider = OpenAICompatible.configure(
        base_url=openai_upstream.base_url, api_key="sk-test", retry_policy=NO_RETRY
    )
    with pytest.raises(acytoo.StreamError, match=message):
        await collect(provider.create_async_generator("m", MESSAGES), received)
    assert received == ["before"]


async def test_a_done_without_its_blank_line_at_the_end_is_still_done(
    openai_upstream: OpenAIUpstream,
) -> None:
    openai_upstream.reply(SSEReply([chunk("all "), chunk("there"), "data: [DONE]"], done=False))
    assert await stream(openai_upstream) == ["all ", "there"]


async def test_a_last_event_without_its_blank_line_is_kept(
    openai_upstream: OpenAIUpstream,
) -> None:
    last = f"data: {json.dumps(chunk('end'))}"
    openai_upstream.reply(SSEReply([chunk("the "), "data:\n\n", last], done=False))
    assert await stream(openai_upstream) == ["the ", "end"]


async def test_a_long_tail_after_done_is_read_and_ignored(
    openai_upstream: OpenAIUpstream,
) -> None:
    # More than one read follows [DONE]: it is read (so the connection can be
    # reused) and none of it becomes text, not even a chunk event.
    tail = [": " + "x" * 100_000 + "\n\n", chunk("never")]
    openai_upstream.reply(SSEReply([chunk("only this"), "data: [DONE]\n\n", *tail], done=False))
    assert await stream(openai_upstream) == ["only this"]
    assert "".join(await stream(openai_upstream)) == DEFAULT_ANSWER
    first, second = openai_upstream.requests
    assert first.peer == second.peer  # the connection went back to the pool


async def test_a_subclass_url_is_the_base_url(
    openai_upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    attributes: dict[str, Any] = {"url": openai_upstream.base_url}
    Mine = type("Mine", (OpenAICompatible,), attributes)
    # configure() without base_url keeps the subclass's url.
    Keyed = Mine.configure(api_key="sk-mine", retry_policy=NO_RETRY)
    assert Keyed.url == openai_upstream.base_url
    answer = [text async for text in Keyed.create_async_generator("m", MESSAGES)]
    assert "".join(answer) == DEFAULT_ANSWER
    assert openai_upstream.requests[0].authorization == "Bearer sk-mine"
