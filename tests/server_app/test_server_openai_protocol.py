"""POST /v1/chat/completions and GET /v1/models, driven by the official openai SDK."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from server_helpers import USER, AcytooUpstream, Call, drain, running_upstream, scripted

from acytoo.errors import RateLimitError as AcytooRateLimitError
from acytoo.server import Backend, build_backend


def async_client(url: str, api_key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=30)


def sync_client(url: str, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=30)


async def test_async_non_streaming(start_server) -> None:
    server = await start_server(Backend(scripted(("Hel", "lo"))))
    async with async_client(server.url) as client:
        completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4"
    assert completion.id.startswith("chatcmpl-")
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 2


async def test_async_streaming(start_server) -> None:
    gate = asyncio.Event()
    server = await start_server(Backend(scripted(("Hel", "lo", " there"), gate=gate)))
    async with async_client(server.url) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        chunks = []
        async for chunk in stream:
            chunks.append(chunk)
            if len(chunks) == 2:
                # The first text arrived before the backend produced the rest.
                gate.set()
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[1].choices[0].delta.content == "Hel"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "Hello there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert {chunk.id for chunk in chunks} == {chunks[0].id}


async def test_sync_client_streaming_and_not(start_server) -> None:
    server = await start_server(Backend(scripted(("a", "b", "c"))))

    def use_sync_client() -> tuple[str, str]:
        with sync_client(server.url) as client:
            whole = client.chat.completions.create(model="m", messages=USER)
            stream = client.chat.completions.create(model="m", messages=USER, stream=True)
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        return whole.choices[0].message.content or "", streamed

    # In a thread: the server runs on this test's event loop.
    assert await asyncio.to_thread(use_sync_client) == ("abc", "abc")


async def test_stream_usage_when_asked(start_server) -> None:
    server = await start_server(Backend(scripted(("abcd", "efgh"))))
    async with async_client(server.url) as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2


async def test_empty_answer_streams_role_and_stop(start_server) -> None:
    server = await start_server(Backend(scripted(())))
    async with async_client(server.url) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_mid_stream_failure_is_an_error_event_the_sdk_raises(start_server) -> None:
    failure = AcytooRateLimitError("slow down", status=429, body="", url="http://upstream")
    server = await start_server(Backend(scripted(("partial",), fail_after=failure)))
    received = []
    async with async_client(server.url) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError) as caught:
            await drain(stream, received)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in received) == "partial"
    assert "slow down" in str(caught.value)


async def test_failure_before_text_is_an_http_error_with_the_upstream_status(start_server) -> None:
    error_body = json.dumps({"error": {"message": "quota exceeded", "type": "insufficient_quota"}})
    async with running_upstream(AcytooUpstream(status=429, error_body=error_body)) as upstream:
        server = await start_server(build_backend("acytoo", [upstream.url], max_retries=0))
        async with async_client(server.url) as client:
            with pytest.raises(openai.RateLimitError) as streaming:
                await client.chat.completions.create(model="m", messages=USER, stream=True)
            with pytest.raises(openai.RateLimitError) as whole:
                await client.chat.completions.create(model="m", messages=USER)
    for caught in (streaming, whole):
        assert caught.value.status_code == 429
        assert "quota exceeded" in caught.value.message
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["message"] == "quota exceeded"


async def test_bearer_key_is_required_when_configured(start_server) -> None:
    server = await start_server(Backend(scripted()), api_keys=("k-1", "k-2"), password="pw")
    for wrong in ("unused", "k-3", "K-1"):
        async with async_client(server.url, wrong) as client:
            with pytest.raises(openai.AuthenticationError) as caught:
                await client.chat.completions.create(model="m", messages=USER)
            assert caught.value.status_code == 401
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()
    for right in ("k-1", "k-2", "pw"):
        async with async_client(server.url, right) as client:
            completion = await client.chat.completions.create(model="m", messages=USER)
            assert completion.choices[0].message.content == "Hello, world"


async def test_bearer_is_not_checked_when_no_secret_is_configured(start_server) -> None:
    server = await start_server(Backend(scripted()))
    async with async_client(server.url, "anything") as client:
        completion = await client.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "Hello, world"


async def test_models_lists_backend_models_or_the_allow_list(start_server) -> None:
    listed = await start_server(Backend(scripted(models=("m-1", "m-2"))))
    allowed = await start_server(Backend(scripted(models=("m-1",))), allowed_models=("x", "y"))
    async with async_client(listed.url) as client:
        assert [model.id async for model in client.models.list()] == ["m-1", "m-2"]
    async with async_client(allowed.url) as client:
        assert [model.id async for model in client.models.list()] == ["x", "y"]
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="m-1", messages=USER)
    assert "Not supported model m-1" in caught.value.message


async def test_content_parts_and_developer_role(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(Backend(scripted(calls=calls)))
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
    ]
    async with async_client(server.url) as client:
        await client.chat.completions.create(model="m", messages=messages, temperature=0.2)
    assert calls[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one\ntwo"},
    ]
    assert calls[0].options == {"temperature": 0.2}
