"""Whole chains over loopback: a client, the server, a real provider, a real upstream.

Clients: the project's Acytoo provider and the openai SDK. Backends:
OpenAICompatible against the scriptable OpenAI-compatible upstream, RetryProvider
for failover, and the offline Local assistant.
"""

from __future__ import annotations

import asyncio
import contextlib

import openai
import pytest
from server_helpers import USER, drain, wait_for

from acytoo import Acytoo, APIStatusError, AuthenticationError, IncompleteResponseError
from acytoo.server import LOCAL_MODEL, build_backend
from servers.openai_upstream import (
    DEFAULT_ANSWER,
    DEFAULT_MODELS,
    OpenAIUpstream,
    SSEReply,
    chunk,
    error_reply,
    text_events,
)


def acytoo_client(url: str, **options: object) -> type[Acytoo]:
    return Acytoo.configure(url=url, max_retries=0, **options)  # type: ignore[return-value]


def openai_backend(*urls: str):
    return build_backend("openai", list(urls), max_retries=0)


async def test_acytoo_client_through_openai_compatible_upstream(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    server = await start_server(openai_backend(openai_upstream.base_url))
    text = await acytoo_client(server.url).create_async("gpt-4o-mini", USER, temperature=0.3)
    assert text == DEFAULT_ANSWER
    (request,) = openai_upstream.chat_requests
    assert request.json["model"] == "gpt-4o-mini"
    assert request.json["messages"] == USER
    assert request.json["temperature"] == 0.3
    assert request.json["stream"] is True


async def test_keys_reach_the_upstream_as_bearer(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    server = await start_server(
        openai_backend(openai_upstream.base_url), upstream_keys=("sk-server-1", "sk-server-2")
    )
    closed = await start_server(
        openai_backend(openai_upstream.base_url),
        upstream_keys=("sk-server-3",),
        allow_client_keys=False,
    )
    await acytoo_client(server.url).create_async("", USER)
    await acytoo_client(server.url).create_async("", USER)
    await acytoo_client(server.url, key="sk-client").create_async("", USER)
    await acytoo_client(closed.url, key="sk-client").create_async("", USER)
    assert [r.authorization for r in openai_upstream.chat_requests] == [
        "Bearer sk-server-1",
        "Bearer sk-server-2",
        "Bearer sk-client",
        "Bearer sk-server-3",
    ]


async def test_no_key_sends_no_authorization(
    start_server, openai_upstream: OpenAIUpstream, monkeypatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = await start_server(openai_backend(openai_upstream.base_url))
    await acytoo_client(server.url).create_async("", USER)
    assert openai_upstream.chat_requests[0].authorization is None


async def test_upstream_error_status_passes_through(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(error_reply(401, "Incorrect API key provided", code="invalid_api_key"))
    openai_upstream.reply(error_reply(404, "The model `nope` does not exist"))
    server = await start_server(openai_backend(openai_upstream.base_url))
    with pytest.raises(AuthenticationError) as caught:
        await acytoo_client(server.url, key="sk-bad").create_async("", USER)
    assert caught.value.status == 401
    assert "Incorrect API key provided" in str(caught.value)
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="x", max_retries=0
    ) as client:
        with pytest.raises(openai.NotFoundError) as not_found:
            await client.chat.completions.create(model="nope", messages=USER)
    assert "does not exist" in not_found.value.message


async def test_upstream_error_event_mid_stream(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    broken = SSEReply(
        [chunk(role="assistant", content=""), chunk("Hel"), {"error": {"message": "overloaded"}}],
        done=False,
    )
    openai_upstream.reply(broken, broken)
    server = await start_server(openai_backend(openai_upstream.base_url))
    received: list[str] = []
    with pytest.raises(IncompleteResponseError):
        await drain(acytoo_client(server.url).create_async_generator("", USER), received)
    assert "".join(received) == "Hel"
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="x", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError) as caught:
            async for _ in stream:
                pass
    assert "overloaded" in str(caught.value)


async def test_upstream_cut_short_gives_an_incomplete_body(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.reply(SSEReply(text_events(["one ", "two"]), done=False, ending="abort"))
    server = await start_server(openai_backend(openai_upstream.base_url))
    with pytest.raises(IncompleteResponseError):
        await acytoo_client(server.url).create_async("", USER)


@pytest.mark.parametrize("client_kind", ["acytoo", "openai-stream", "openai-whole"])
async def test_client_disconnect_cancels_the_upstream_request(
    start_server, openai_upstream: OpenAIUpstream, client_kind: str
) -> None:
    # The upstream sends a first piece, then holds until its client (our server) leaves.
    openai_upstream.reply(SSEReply(text_events(["first"])[:2], ending="hold"))
    server = await start_server(openai_backend(openai_upstream.base_url))
    if client_kind == "acytoo":
        chunks = acytoo_client(server.url).create_async_generator("", USER)
        assert await asyncio.wait_for(anext(chunks), 10) == "first"
        await chunks.aclose()  # closes the connection mid-body
    else:
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key="x", max_retries=0
        ) as client:
            if client_kind == "openai-stream":
                stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
                await asyncio.wait_for(anext(aiter(stream)), 10)
                await stream.close()
            else:
                request = asyncio.ensure_future(
                    client.chat.completions.create(model="m", messages=USER)
                )
                await wait_for(openai_upstream.streaming)
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await request
    # Bounded: the server must notice and drop its upstream request promptly.
    await openai_upstream.wait_disconnected(timeout=5)


async def test_failover_to_the_next_upstream(
    start_server, openai_upstream: OpenAIUpstream, refused_port: int
) -> None:
    openai_upstream.reply(error_reply(503, "first upstream overloaded"))
    second = OpenAIUpstream()
    await second.start()
    try:
        server = await start_server(
            openai_backend(openai_upstream.base_url, second.base_url), upstream_keys=("sk-k",)
        )
        assert await acytoo_client(server.url).create_async("", USER) == DEFAULT_ANSWER
        assert len(openai_upstream.chat_requests) == 1
        assert second.chat_requests[0].authorization == "Bearer sk-k"
        # All failing: one error naming every upstream's failure.
        dead = await start_server(
            openai_backend(f"http://127.0.0.1:{refused_port}/v1", openai_upstream.base_url)
        )
        openai_upstream.reply(error_reply(500, "second is down too"))
        with pytest.raises(APIStatusError) as caught:
            await acytoo_client(dead.url).create_async("", USER)
    finally:
        await second.close()
    assert caught.value.status == 502
    message = str(caught.value)
    assert "all backends failed" in message
    assert "unreachable" in message
    assert "second is down too" in message


async def test_local_backend_answers_any_model_offline(start_server, http) -> None:
    server = await start_server()  # no backend: the offline assistant
    text = await acytoo_client(server.url).create_async("gpt-3.5-turbo", USER)
    assert text.strip()
    assert LOCAL_MODEL in text  # it says who is answering
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="x", max_retries=0
    ) as client:
        models = [model.id async for model in client.models.list()]
        completion = await client.chat.completions.create(
            model="gpt-3.5-turbo",
            messages=[{"role": "user", "content": "How do I run the server with a password?"}],
        )
    assert LOCAL_MODEL in models
    assert completion.model == LOCAL_MODEL
    assert completion.choices[0].message.content
    async with http.get(f"{server.url}/healthz") as response:
        assert (await response.json())["backend"] == "Local"


async def test_upstream_connection_limit_is_raised_while_serving(start_server) -> None:
    from acytoo._transport import aclose_sessions, pooled_session

    await aclose_sessions()
    await start_server(upstream_connections=777)
    session = await pooled_session(None)
    assert session.connector is not None
    assert session.connector.limit == 777


async def test_max_tokens_reaches_an_openai_upstream(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    server = await start_server(openai_backend(openai_upstream.base_url))
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="x", max_retries=0
    ) as client:
        await client.chat.completions.create(model="m", messages=USER, max_tokens=7)
        await client.chat.completions.create(model="m", messages=USER, max_completion_tokens=9)
        await client.chat.completions.create(model="m", messages=USER)
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(model="m", messages=USER, max_tokens=0)
    # Relayed as the client named them: max_completion_tokens stays max_completion_tokens.
    sent = [
        (request.json.get("max_tokens"), request.json.get("max_completion_tokens"))
        for request in openai_upstream.chat_requests
    ]
    assert sent == [(7, None), (None, 9), (None, None)]


async def test_models_come_from_the_upstream(start_server, openai_upstream: OpenAIUpstream) -> None:
    server = await start_server(openai_backend(openai_upstream.base_url), default_model="llama3")
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="x", max_retries=0
    ) as client:
        listed = [model.id async for model in client.models.list()]
        openai_upstream.reply_models(
            error_reply(404, "no model list here"), error_reply(500, "models broke")
        )
        # An upstream without /models: the default model is listed instead of a 404.
        fallback = [model.id async for model in client.models.list()]
        with pytest.raises(openai.InternalServerError):
            await client.models.list()
    assert listed == ["llama3", *DEFAULT_MODELS]
    assert fallback == ["llama3"]
