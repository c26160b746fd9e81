"""How every kind of upstream failure reaches the client, on both endpoints.

The upstream is a real Acytoo-protocol server on loopback that fails the way a
test asks it to; the server under test relays to it through the real provider
and transport. Each case pins the status, the error shape of the endpoint
(``msg`` + ``error`` on the Acytoo endpoint, ``error`` alone on ``/v1``) and
that the server keeps serving afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from server_helpers import USER

from acytoo import Acytoo, AsyncResult, InvalidRequestError, Messages, Timeout
from acytoo.providers.base import AsyncGeneratorProvider
from acytoo.server import Backend

Failure = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _rate_limited(request: web.Request) -> web.StreamResponse:
    return web.json_response(
        {"error": {"message": "slow down", "type": "rate_limit"}},
        status=429,
        headers={"Retry-After": "17"},
    )


async def _rejects_the_request(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": {"message": "bad input", "type": "x"}}, status=422)


async def _breaks_off(request: web.Request) -> web.StreamResponse:
    # Promises a body, then hangs up before its first byte: an incomplete answer
    # with no text yet, so the client can still be told with a status.
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    assert request.transport is not None
    request.transport.close()
    return response


async def _never_answers(request: web.Request) -> web.StreamResponse:
    # Waits until the client gives up: handler_cancellation cancels it then.
    await asyncio.Event().wait()
    return web.Response(text="too late")  # pragma: no cover


@contextlib.asynccontextmanager
async def failing_upstream(failure: Failure) -> AsyncIterator[str]:
    """A loopback Acytoo upstream whose ``/api/completions`` answers with ``failure``."""
    app = web.Application()
    app.router.add_post("/api/completions", failure)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def acytoo_backend(url: str) -> Backend:
    # No retries: each case is one upstream attempt. A short read timeout only
    # matters for the upstream that never answers.
    provider = Acytoo.configure(url=url, max_retries=0, timeout=Timeout(connect=10, read=0.5))
    return Backend(provider, key_option="key")


async def post_both(
    http: aiohttp.ClientSession, base: str
) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """The same conversation on both endpoints: (status, headers, JSON body) for each."""
    answers = []
    for path, body in (
        ("/api/completions", {"messages": USER}),
        ("/v1/chat/completions", {"model": "gpt-3.5-turbo", "messages": USER}),
    ):
        async with http.post(base + path, json=body) as response:
            answers.append((response.status, dict(response.headers), await response.json()))
    return answers


def assert_error_shapes(answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> None:
    (_, _, acytoo_body), (_, _, openai_body) = answers
    assert set(acytoo_body) == {"msg", "error"}
    assert acytoo_body["msg"] == acytoo_body["error"]["message"]
    assert set(openai_body) == {"error"}
    for body in (acytoo_body, openai_body):
        assert set(body["error"]) == {"message", "type", "param", "code", "request_id"}
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["message"]


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        pytest.param(_never_answers, 504, id="timeout-504"),
        pytest.param(_breaks_off, 502, id="incomplete-502"),
        pytest.param(_rate_limited, 429, id="upstream-429"),
        pytest.param(_rejects_the_request, 422, id="upstream-4xx-passed-through"),
    ],
)
async def test_upstream_failure_maps_to_its_status(start_server, http, failure, status) -> None:
    async with failing_upstream(failure) as url:
        server = await start_server(acytoo_backend(url))
        answers = await post_both(http, server.url)
        assert [answer[0] for answer in answers] == [status, status]
        assert_error_shapes(answers)
        async with http.get(server.url + "/healthz") as response:
            assert response.status == 200


async def test_upstream_retry_after_is_passed_on(start_server, http) -> None:
    async with failing_upstream(_rate_limited) as url:
        server = await start_server(acytoo_backend(url))
        for _, headers, _ in await post_both(http, server.url):
            assert headers["Retry-After"] == "17"


def _failing_provider(error: BaseException, *, before_generator: bool) -> type[Any]:
    """A provider that fails with ``error``: inside its stream, or (a plain function
    returning a generator, as the contract allows) before any generator exists."""

    class Failing(AsyncGeneratorProvider):
        working = True

        @classmethod
        async def _stream(cls) -> AsyncResult:
            raise error
            yield ""  # pragma: no cover - makes this an async generator

        @classmethod
        def create_async_generator(  # type: ignore[override]
            cls, model: str, messages: Messages, **kwargs: Any
        ) -> AsyncResult:
            if before_generator:
                raise error
            return cls._stream()

    return Failing


@pytest.mark.parametrize("before_generator", [False, True], ids=["in-stream", "before-generator"])
@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        pytest.param(RuntimeError("kaboom"), 500, "server_error", id="unexpected-500"),
        pytest.param(
            InvalidRequestError("nope"),
            400,
            "invalid_request_error",
            id="invalid-400",
        ),
    ],
)
async def test_provider_exceptions_map_to_protocol_errors(
    start_server, http, error, status, error_type, before_generator
) -> None:
    backend = Backend(_failing_provider(error, before_generator=before_generator))
    server = await start_server(backend)
    answers = await post_both(http, server.url)
    assert [answer[0] for answer in answers] == [status, status]
    assert_error_shapes(answers)
    assert {answer[2]["error"]["type"] for answer in answers} == {error_type}
    # An unexpected exception's text is internal: it never reaches the client.
    for _, _, body in answers:
        assert "kaboom" not in str(body)
    async with http.get(server.url + "/healthz") as response:
        assert response.status == 200
