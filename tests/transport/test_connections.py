"""Connections: the pool's limit and wait, stale keep-alive connections, x-should-retry.

Against real servers on 127.0.0.1: the scriptable Acytoo server and a raw
HTTP/1.1 server that drops kept-alive connections (tests/servers/keepalive.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

import acytoo
from acytoo import Acytoo, RetryPolicy, Timeout, aclose_sessions, set_max_connections
from acytoo._transport import DEFAULT_MAX_CONNECTIONS, HTTPRequest, TransportOptions, open_stream
from acytoo._transport._pool import connection_limit
from servers.acytoo_server import AcytooTestServer, Reply
from servers.keepalive import IdleClosingServer

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


@pytest.fixture
async def pool_of_one() -> AsyncIterator[None]:
    """Pooled sessions created in this test hold at most one connection."""
    await aclose_sessions()
    previous = set_max_connections(1)
    try:
        yield
    finally:
        set_max_connections(previous)
        await aclose_sessions()


def test_default_limit_is_openais() -> None:
    assert DEFAULT_MAX_CONNECTIONS == 1000
    assert connection_limit() == DEFAULT_MAX_CONNECTIONS
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(acytoo.InvalidRequestError, match="max_connections"):
            set_max_connections(bad)  # type: ignore[arg-type]


async def test_waiting_for_a_full_pool_is_bounded_by_the_connect_timeout(
    acytoo_server: AcytooTestServer, pool_of_one: None
) -> None:
    acytoo_server.reply(Reply(chunks=[b"held"], ending="hold"))
    holding = Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url)
    try:
        assert await asyncio.wait_for(anext(holding), 30) == "held"
        # The only connection is busy until the held answer ends (up to 60 s).
        with pytest.raises(acytoo.ConnectTimeout) as caught:
            await asyncio.wait_for(
                Acytoo.create_async(
                    "", MESSAGES, url=acytoo_server.url, timeout=Timeout(connect=0.5), max_retries=0
                ),
                30,
            )
        assert "waiting for one to free up" in str(caught.value)
        assert "all 1 connections of the pool were busy" in str(caught.value)
    finally:
        acytoo_server.release()
        await holding.aclose()
    assert len(acytoo_server.requests) == 1  # the second request never got a connection


async def test_the_pool_holds_up_to_its_limit_at_once(acytoo_server: AcytooTestServer) -> None:
    # 150 streams at once, each holding its connection: beyond the old limit of 100.
    acytoo_server.default_reply = Reply(chunks=[b"held"], ending="hold")
    streams = [
        Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url, max_retries=0)
        for _ in range(150)
    ]
    try:
        firsts = await asyncio.wait_for(asyncio.gather(*(anext(stream) for stream in streams)), 60)
        assert firsts == ["held"] * 150
        assert len({request.peer for request in acytoo_server.requests}) == 150
    finally:
        acytoo_server.release()
        for stream in streams:
            await stream.aclose()


# --- a kept-alive connection the server closed ----------------------------------------------


async def ask(server: IdleClosingServer, **options: Any) -> str:
    return await Acytoo.create_async("", MESSAGES, url=server.url, **options)


async def test_a_request_on_a_dropped_keep_alive_connection_is_sent_again(
    idle_closing_server: IdleClosingServer,
) -> None:
    assert await ask(idle_closing_server, max_retries=0) == "Hello"
    # The pooled connection is dropped when the next request arrives on it: the
    # request is sent again on a fresh connection, though max_retries is 0.
    assert await ask(idle_closing_server, max_retries=0) == "Hello"
    assert idle_closing_server.requests == [(1, 1), (1, 2), (2, 1)]


async def test_a_dropped_fresh_connection_is_not_retried_without_retries(
    idle_closing_server: IdleClosingServer,
) -> None:
    idle_closing_server.drop_every_request = True
    with pytest.raises(acytoo.ConnectError):
        await ask(idle_closing_server, max_retries=0)
    assert idle_closing_server.requests == [(1, 1)]
    # With retries, the policy's attempts apply as usual.
    with pytest.raises(acytoo.ConnectError):
        await ask(idle_closing_server, retry_policy=FAST_RETRY)
    assert len(idle_closing_server.requests) == 1 + 3


# --- x-should-retry, both ways ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "header", "attempts"),
    [
        (500, None, 3),  # retryable by status
        (500, "false", 1),  # the service says no (an acytoo relay that already retried)
        (503, "FALSE", 1),
        (400, None, 1),  # not retryable by status
        (400, "true", 3),  # the service says yes
        (404, "maybe", 1),  # not a verdict: the status decides
    ],
)
async def test_x_should_retry_is_honoured(
    acytoo_server: AcytooTestServer, status: int, header: str | None, attempts: int
) -> None:
    headers = {"x-should-retry": header} if header is not None else {}
    acytoo_server.default_reply = Reply(chunks=[b"{}"], status=status, headers=headers)
    request = HTTPRequest(URL(acytoo_server.url + "/api/completions"), {}, {"q": 1})
    with pytest.raises(acytoo.APIStatusError):
        async with open_stream(request, TransportOptions(retry=FAST_RETRY)):
            pass
    assert len(acytoo_server.requests) == attempts
