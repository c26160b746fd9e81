"""The relay capability: OpenAICompatible.open_relay and RetryProvider's failover over it,
against the scripted upstream on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acytoo import (
    Acytoo,
    AllProvidersFailedError,
    APIStatusError,
    InvalidRequestError,
    OpenAICompatible,
    RetryProvider,
    aclose_sessions,
)
from acytoo.providers._relay import relay_capable
from servers._scripted import running
from servers.openai_upstream import OpenAIUpstream, SSEReply, error_reply, text_events

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "x-future": [1]}'


@pytest.fixture(autouse=True)
async def _close_pool() -> AsyncIterator[None]:
    yield
    await aclose_sessions()


async def read(relay: object) -> bytes:
    async with relay as response:  # type: ignore[attr-defined]
        return b"".join([chunk async for chunk in response.iter_bytes()])


async def test_the_body_goes_out_and_comes_back_unchanged(openai_upstream: OpenAIUpstream) -> None:
    reply = SSEReply(text_events(["a", "b"]), split=5)
    openai_upstream.reply(reply)
    provider = OpenAICompatible.configure(base_url=openai_upstream.base_url, api_key="sk-1")
    assert await read(provider.open_relay("/chat/completions", BODY)) == reply.body()
    (received,) = openai_upstream.chat_requests
    assert received.body == BODY
    assert received.authorization == "Bearer sk-1"


async def test_status_errors_raise_before_the_first_byte(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(error_reply(400, "bad tools"))
    provider = OpenAICompatible.configure(base_url=openai_upstream.base_url, max_retries=0)
    with pytest.raises(APIStatusError) as caught:
        await read(provider.open_relay("/chat/completions", BODY))
    assert caught.value.status == 400


async def test_only_the_relayed_paths_and_known_options() -> None:
    provider = OpenAICompatible.configure(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidRequestError, match="cannot relay"):
        provider.open_relay("/files", BODY)
    with pytest.raises(InvalidRequestError, match="unexpected option"):
        provider.open_relay("/chat/completions", BODY, colour="red")


async def test_failover_before_the_first_byte(openai_upstream: OpenAIUpstream) -> None:
    async with running(OpenAIUpstream()) as second:
        openai_upstream.reply(error_reply(503, "busy"))
        first = OpenAICompatible.configure("first", base_url=openai_upstream.base_url)
        other = OpenAICompatible.configure("second", base_url=second.base_url)
        provider = RetryProvider([first, other])
        assert provider.supports_relay
        body = await read(provider.open_relay("/chat/completions", BODY, max_retries=0))
        assert b'"object": "chat.completion"' in body
        assert second.chat_requests[0].body == BODY

        openai_upstream.reply(error_reply(503, "busy"))
        second.reply(error_reply(502, "down"))
        with pytest.raises(AllProvidersFailedError):
            await read(provider.open_relay("/chat/completions", BODY, max_retries=0))


def test_the_capability_is_declared() -> None:
    assert relay_capable(OpenAICompatible) is OpenAICompatible
    assert relay_capable(Acytoo) is None
    mixed = RetryProvider([OpenAICompatible, Acytoo])
    assert not mixed.supports_relay
    assert relay_capable(mixed) is None
    with pytest.raises(InvalidRequestError, match="cannot relay"):
        mixed.open_relay("/chat/completions", BODY)
