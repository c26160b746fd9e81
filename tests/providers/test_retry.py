"""RetryProvider: failover before the first chunk, never after; shuffle; one aggregated error.

Real providers against real local servers show the failover end to end;
small scripted providers (plain objects with the provider methods, no
HTTP) pin down the ordering rules.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

import acytoo
from acytoo import (
    Acytoo,
    AllProvidersFailedError,
    OpenAICompatible,
    ProviderType,
    RetryPolicy,
    RetryProvider,
    provider_name,
)
from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream, SSEReply, chunk, error_body, error_reply

MESSAGES: list[acytoo.Message] = [{"role": "user", "content": "Hello"}]
NO_RETRY = RetryPolicy(max_retries=0)


class Scripted:
    """A provider object that yields ``chunks`` and then raises ``error``, if any."""

    def __init__(
        self,
        name: str,
        chunks: tuple[str, ...] = (),
        error: BaseException | None = None,
        models: tuple[str, ...] = (),
        log: list[str] | None = None,
    ) -> None:
        self.name = name
        self.chunks = chunks
        self.error = error
        self.models = models
        self.log = log if log is not None else []
        self.closed = 0

    async def create_async_generator(
        self, model: str, messages: acytoo.Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        self.log.append(self.name)
        try:
            for text in self.chunks:
                yield text
            if self.error is not None:
                raise self.error
        finally:
            self.closed += 1

    async def list_models(self, proxy: str | None = None, **kwargs: Any) -> list[str]:
        if self.error is not None:
            raise self.error
        return list(self.models)


def openai_provider(upstream: OpenAIUpstream) -> type[acytoo.AsyncGeneratorProvider]:
    return OpenAICompatible.configure(
        base_url=upstream.base_url, api_key="sk-test", retry_policy=NO_RETRY
    )


def acytoo_provider(server: AcytooTestServer) -> type[acytoo.AsyncGeneratorProvider]:
    return Acytoo.configure(url=server.url, retry_policy=NO_RETRY)


async def read(provider: RetryProvider, into: list[str] | None = None, **kwargs: Any) -> str:
    parts = into if into is not None else []
    async for text in provider.create_async_generator("gpt-3.5-turbo", MESSAGES, **kwargs):
        parts.append(text)
    return "".join(parts)


# --- shape --------------------------------------------------------------------------------------


def test_name_lists_the_providers() -> None:
    provider = RetryProvider([Acytoo, OpenAICompatible])
    assert provider.name == "RetryProvider(Acytoo, OpenAICompatible)"
    assert provider_name(provider) == provider.name
    assert isinstance(provider, ProviderType)
    assert provider.models == ("gpt-3.5-turbo",)
    assert provider.default_model == "gpt-3.5-turbo"
    assert provider.supports_message_history


@pytest.mark.parametrize("providers", [[], "Acytoo", [object()], [Acytoo, 42], None])
def test_bad_provider_lists_are_rejected(providers: Any) -> None:
    with pytest.raises(acytoo.InvalidRequestError):
        RetryProvider(providers)


# --- failover end to end --------------------------------------------------------------------


async def test_fails_over_to_the_next_provider_before_the_first_chunk(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    openai_upstream.reply(error_reply(500, "The server had an error"))
    acytoo_server.reply(Reply(chunks=[b"from ", b"acytoo"]))
    provider = RetryProvider([openai_provider(openai_upstream), acytoo_provider(acytoo_server)])
    assert await read(provider) == "from acytoo"
    assert len(openai_upstream.requests) == 1
    assert len(acytoo_server.requests) == 1


async def test_the_first_working_provider_answers_alone(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    provider = RetryProvider([openai_provider(openai_upstream), acytoo_provider(acytoo_server)])
    assert await provider.create_async("m", MESSAGES) == "Hello from the upstream! ✓"
    assert acytoo_server.requests == []


async def test_no_failover_after_the_first_chunk(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    openai_upstream.reply(SSEReply([chunk("Hel"), error_body("boom", "server_error")]))
    provider = RetryProvider([openai_provider(openai_upstream), acytoo_provider(acytoo_server)])
    received: list[str] = []
    with pytest.raises(acytoo.StreamError, match="boom"):
        await read(provider, received)
    assert received == ["Hel"]  # no text from another provider appended to it
    assert acytoo_server.requests == []


async def test_all_failing_raises_one_error_listing_each_failure(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    openai_upstream.reply(error_reply(401, "Incorrect API key provided."))
    acytoo_server.reply(Reply(status=500, chunks=[b'{"msg":"fetch failed"}']))
    first, second = openai_provider(openai_upstream), acytoo_provider(acytoo_server)
    provider = RetryProvider([first, second])
    with pytest.raises(AllProvidersFailedError) as caught:
        await read(provider)
    error = caught.value
    assert [name for name, _ in error.errors] == ["OpenAICompatible", "Acytoo"]
    assert isinstance(error.errors[0][1], acytoo.AuthenticationError)
    assert isinstance(error.errors[1][1], acytoo.InternalServerError)
    message = str(error)
    assert "OpenAICompatible: AuthenticationError: Incorrect API key provided." in message
    assert "Acytoo: InternalServerError: fetch failed" in message
    assert isinstance(error, acytoo.AcytooError)


async def test_invalid_arguments_are_raised_not_failed_over(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    provider = RetryProvider([openai_provider(openai_upstream), acytoo_provider(acytoo_server)])
    with pytest.raises(acytoo.InvalidRequestError, match="temperature"):
        await read(provider, temperature=7)
    with pytest.raises(acytoo.InvalidRequestError, match="messages"):
        await provider.create_async("m", [])
    assert openai_upstream.requests == []
    assert acytoo_server.requests == []


async def test_closing_early_closes_the_provider_stream(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.reply(SSEReply([chunk("first"), chunk("second")], ending="hold"))
    provider = RetryProvider([openai_provider(openai_upstream)])
    answer = provider.create_async_generator("m", MESSAGES)
    assert await answer.__anext__() == "first"
    await answer.aclose()
    await openai_upstream.wait_disconnected()


async def test_cancellation_is_not_a_provider_failure(
    openai_upstream: OpenAIUpstream, acytoo_server: AcytooTestServer
) -> None:
    gate = asyncio.Event()  # never set: the first provider has not answered yet
    openai_upstream.reply(SSEReply([chunk("late")], gate=gate))
    provider = RetryProvider([openai_provider(openai_upstream), acytoo_provider(acytoo_server)])
    task = asyncio.create_task(read(provider))
    await asyncio.wait_for(openai_upstream.received.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await openai_upstream.wait_disconnected()
    assert acytoo_server.requests == []


# --- ordering rules ------------------------------------------------------------------------


async def test_tries_in_order_until_one_answers() -> None:
    log: list[str] = []
    providers = [
        Scripted("a", error=acytoo.ConnectError("refused"), log=log),
        Scripted("b", error=RuntimeError("bug"), log=log),
        Scripted("c", chunks=("from ", "c"), log=log),
        Scripted("d", chunks=("from d",), log=log),
    ]
    provider = RetryProvider(providers)
    assert await read(provider) == "from c"
    assert log == ["a", "b", "c"]
    assert [p.closed for p in providers] == [1, 1, 1, 0]


async def test_each_failover_is_logged_and_the_error_chained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = acytoo.ConnectError("refused")
    provider = RetryProvider([Scripted("a", error=down), Scripted("b", error=RuntimeError("x"))])
    with caplog.at_level("INFO", logger="acytoo"), pytest.raises(AllProvidersFailedError) as caught:
        await read(provider)
    assert "a failed before answering (ConnectError: refused)" in caplog.text
    assert "b failed before answering (RuntimeError: x)" in caplog.text
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_an_empty_answer_is_an_answer() -> None:
    log: list[str] = []
    provider = RetryProvider([Scripted("a", log=log), Scripted("b", chunks=("x",), log=log)])
    assert await read(provider) == ""
    assert log == ["a"]


async def test_failure_after_text_propagates_unchanged() -> None:
    error = acytoo.IncompleteResponseError("cut")
    log: list[str] = []
    provider = RetryProvider(
        [Scripted("a", chunks=("par",), error=error, log=log), Scripted("b", ("x",), log=log)]
    )
    received: list[str] = []
    with pytest.raises(acytoo.IncompleteResponseError) as caught:
        await read(provider, received)
    assert caught.value is error
    assert (received, log) == (["par"], ["a"])


def test_without_shuffle_the_order_never_changes() -> None:
    providers = [Scripted(n) for n in "abc"]
    provider = RetryProvider(providers)
    assert all(provider.order() == providers for _ in range(20))


def test_shuffle_reaches_every_order_and_reshuffles_per_call() -> None:
    providers = [Scripted(n) for n in "abc"]
    provider = RetryProvider(providers, shuffle=True, rng=random.Random(1234))
    seen = [tuple(p.name for p in provider.order()) for _ in range(300)]
    assert set(seen) == set(itertools.permutations("abc"))
    assert any(x != y for x, y in itertools.pairwise(seen))


def test_shuffle_with_a_seeded_rng_is_reproducible() -> None:
    providers = [Scripted(n) for n in "abcd"]
    first = RetryProvider(providers, shuffle=True, rng=random.Random(7))
    second = RetryProvider(providers, shuffle=True, rng=random.Random(7))
    assert [first.order() for _ in range(10)] == [second.order() for _ in range(10)]


async def test_shuffled_calls_try_providers_in_the_shuffled_order() -> None:
    log: list[str] = []
    failing = [Scripted(n, error=acytoo.ConnectError(f"{n} down"), log=log) for n in "abc"]
    provider = RetryProvider(failing, shuffle=True, rng=random.Random(99))
    expected = RetryProvider(failing, shuffle=True, rng=random.Random(99))
    for _ in range(6):
        log.clear()
        with pytest.raises(AllProvidersFailedError) as caught:
            await read(provider)
        order = [p.name for p in expected.order()]
        assert log == order
        assert [name for name, _ in caught.value.errors] == order


async def test_shuffled_calls_answer_from_every_provider() -> None:
    providers = [Scripted(n, chunks=(n,)) for n in "abc"]
    provider = RetryProvider(providers, shuffle=True, rng=random.Random(5))
    answers = {await provider.create_async("m", MESSAGES) for _ in range(60)}
    assert answers == {"a", "b", "c"}


# --- models -----------------------------------------------------------------------------------


async def test_list_models_is_the_ordered_union() -> None:
    provider = RetryProvider(
        [
            Scripted("a", models=("m1", "m2")),
            Scripted("b", error=acytoo.ConnectError("down")),
            Scripted("c", models=("m2", "m3", "m1")),
        ],
        shuffle=True,
    )
    assert await provider.list_models() == ["m1", "m2", "m3"]


async def test_list_models_from_real_providers(openai_upstream: OpenAIUpstream) -> None:
    openai_upstream.models = ["llama3", "gpt-3.5-turbo"]
    provider = RetryProvider([openai_provider(openai_upstream), Acytoo])
    assert await provider.list_models() == ["llama3", "gpt-3.5-turbo"]


async def test_list_models_all_failing() -> None:
    provider = RetryProvider([Scripted("a", error=acytoo.ConnectError("down"))])
    with pytest.raises(AllProvidersFailedError, match="a: ConnectError: down"):
        await provider.list_models()


# --- the synchronous path --------------------------------------------------------------------


def test_sync_streaming_and_whole(threaded_openai_upstream: OpenAIUpstream) -> None:
    upstream = threaded_openai_upstream
    upstream.reply(error_reply(503, "busy"), error_reply(503, "busy"))
    provider = RetryProvider([openai_provider(upstream), Scripted("backup", ("from ", "backup"))])
    assert list(provider.create_completion("m", MESSAGES)) == ["from ", "backup"]
    assert list(provider.create_completion("m", MESSAGES, stream=False)) == ["from backup"]
    assert list(provider.create_completion("m", MESSAGES)) == [
        "Hello ",
        "from ",
        "the ",
        "upstream! ",
        "✓",
    ]


def test_sync_all_failing_raises() -> None:
    provider = RetryProvider([Scripted("a", error=acytoo.ConnectError("down"))])
    with pytest.raises(AllProvidersFailedError, match="down"):
        list(provider.create_completion("m", MESSAGES))
    with pytest.raises(AllProvidersFailedError, match="down"):
        provider.create_completion("m", MESSAGES, stream=False)


def test_sync_break_closes_the_provider_stream(threaded_openai_upstream: OpenAIUpstream) -> None:
    upstream = threaded_openai_upstream
    upstream.reply(SSEReply([chunk("first"), chunk("second")], ending="hold"))
    answer = RetryProvider([openai_provider(upstream)]).create_completion("m", MESSAGES)
    assert next(answer) == "first"
    answer.close()  # type: ignore[attr-defined]
    upstream.wait_disconnected_threadsafe()


def test_importing_retry_provider_does_not_import_aiohttp() -> None:
    # RetryProvider also wraps the offline Local provider, whose path stays aiohttp-free.
    code = "import sys, acytoo; acytoo.RetryProvider; print('aiohttp' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr
