"""open_stream and ResponseStream against real misbehaving servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

import acytoo
from acytoo import RetryPolicy, Timeout
from acytoo._transport import HTTPRequest, TransportOptions, error_detail, open_stream
from acytoo._transport._stream import _retryable
from servers.acytoo_server import AcytooTestServer, Reply

FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


def request_to(url: str) -> HTTPRequest:
    return HTTPRequest(URL(url + "/api/completions"), {"accept": "*/*"}, {"q": 1})


async def read_all(server_url: str, **options: Any) -> list[str]:
    options.setdefault("retry", FAST_RETRY)
    async with open_stream(request_to(server_url), TransportOptions(**options)) as response:
        return [text async for text in response.iter_text()]


async def read_collecting(server_url: str, into: list[str], **options: Any) -> None:
    options.setdefault("retry", FAST_RETRY)
    async with open_stream(request_to(server_url), TransportOptions(**options)) as response:
        async for text in response.iter_text():
            into.append(text)


# --- a response that ends early is an error, never a clean end -----------------------------


@pytest.mark.parametrize("ending", ["abort", "truncate", "bad_chunk"])
async def test_incomplete_body_raises(acytoo_server: AcytooTestServer, ending: Any) -> None:
    acytoo_server.reply(Reply(chunks=[b"some ", b"text"], ending=ending))
    received: list[str] = []
    with pytest.raises(acytoo.IncompleteResponseError) as caught:
        await read_collecting(acytoo_server.url, received, retry=RetryPolicy(max_retries=0))
    assert isinstance(caught.value, aiohttp.ClientPayloadError)
    assert acytoo_server.url in str(caught.value)
    # Whatever arrived before the break was delivered, once. (Whether the break
    # came in the same read as the headers depends on TCP, so no retries here.)
    assert "".join(received) in ("", "some ", "some text")
    assert len(acytoo_server.requests) == 1


@pytest.mark.parametrize("ending", ["abort", "truncate"])
async def test_incomplete_before_the_first_byte_is_retried(
    acytoo_server: AcytooTestServer, ending: Any
) -> None:
    acytoo_server.reply(Reply(chunks=[], ending=ending), Reply(chunks=[b"second try"]))
    assert await read_all(acytoo_server.url) == ["second try"]
    assert len(acytoo_server.requests) == 2


async def test_http10_body_ending_at_close_is_complete(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"old ", "sch\xf6ol".encode()], ending="http10"))
    assert "".join(await read_all(acytoo_server.url)) == "old schöol"


async def test_response_properties(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(
        Reply(chunks=[b"x"], content_type="text/plain; charset=cp1251", headers={"X-Id": "7"})
    )
    async with open_stream(request_to(acytoo_server.url), TransportOptions()) as response:
        assert response.status == 200
        assert response.headers["X-Id"] == "7"
        assert response.charset == "cp1251"
        assert response.content_type == "text/plain"
        assert [chunk async for chunk in response.iter_bytes()] == [b"x"]


# --- time limits ------------------------------------------------------------------------


async def test_idle_timeout_mid_answer_raises_read_timeout(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    received: list[str] = []
    with pytest.raises(acytoo.ReadTimeout) as caught:
        await read_collecting(acytoo_server.url, received, timeout=Timeout(read=0.3))
    assert received == ["first"]
    assert isinstance(caught.value, builtins.TimeoutError)
    assert isinstance(caught.value, acytoo.APITimeoutError)
    assert isinstance(caught.value, aiohttp.ClientError)
    assert len(acytoo_server.requests) == 1
    # The stalled response was closed, not left hanging.
    await acytoo_server.wait_disconnected()


async def test_idle_timeout_before_the_first_byte(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.default_reply = Reply(chunks=[], ending="hold")
    with pytest.raises(acytoo.ReadTimeout):
        await read_all(
            acytoo_server.url, timeout=Timeout(read=0.2), retry=RetryPolicy(max_retries=0)
        )
    assert len(acytoo_server.requests) == 1


async def test_idle_timeout_before_the_first_byte_is_retried(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(chunks=[], ending="hold"), Reply(chunks=[b"ok"]))
    assert await read_all(acytoo_server.url, timeout=Timeout(read=0.2)) == ["ok"]
    assert len(acytoo_server.requests) == 2


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full, so new connections hang in SYN-SENT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connect_timeout_raises_connect_timeout(full_backlog: int) -> None:
    with pytest.raises(acytoo.ConnectTimeout) as caught:
        await read_all(
            f"http://127.0.0.1:{full_backlog}",
            timeout=Timeout(connect=0.3, read=30),
            retry=RetryPolicy(max_retries=0),
        )
    assert isinstance(caught.value, builtins.TimeoutError)


# --- connection errors ------------------------------------------------------------------


async def test_connection_refused_raises_connect_error(refused_port: int) -> None:
    with pytest.raises(acytoo.ConnectError) as caught:
        await read_all(f"http://127.0.0.1:{refused_port}")
    assert isinstance(caught.value, aiohttp.ClientConnectionError)
    assert "cannot connect" in str(caught.value)


@pytest.fixture
async def slammer() -> AsyncIterator[tuple[str, list[int]]]:
    """A server that accepts each connection, reads the request and closes without answering."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_dropped_connections_are_retried_up_to_max_retries(
    slammer: tuple[str, list[int]],
) -> None:
    url, accepted = slammer
    with pytest.raises(acytoo.ConnectError):
        await read_all(url, retry=RetryPolicy(max_retries=2, initial_delay=0.01))
    assert len(accepted) == 3


# --- error bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('{"msg":"No API key provided"}', "No API key provided"),
        ('{"error":{"message":"Rate limit","type":"x"}}', "Rate limit"),
        ('{"error":"plain string error"}', "plain string error"),
        ('{"msg":"","error":{"message":"second"}}', "second"),
        ('{"msg":42}', None),
        ("[1, 2]", None),
        ("not json", None),
        ("", None),
    ],
)
def test_error_detail(body: str, detail: str | None) -> None:
    assert error_detail(body) == detail


async def test_non_utf8_error_body_in_named_charset(acytoo_server: AcytooTestServer) -> None:
    body = '{"msg":"Ошибка"}'.encode("cp1251")
    acytoo_server.reply(Reply(status=400, chunks=[body], content_type="text/plain; charset=cp1251"))
    with pytest.raises(acytoo.BadRequestError, match=r"^Ошибка"):
        await read_all(acytoo_server.url)


@pytest.mark.parametrize("status", [400, 429, 503])
async def test_status_errors_carry_the_request_id(
    acytoo_server: AcytooTestServer, status: int
) -> None:
    headers = {"X-Request-Id": "req_7f3a9c"}
    acytoo_server.reply(Reply(status=status, chunks=[b'{"msg":"no"}'], headers=headers))
    with pytest.raises(acytoo.APIStatusError) as caught:
        await read_all(acytoo_server.url, retry=RetryPolicy(max_retries=0))
    assert caught.value.status == status
    assert caught.value.request_id == "req_7f3a9c"


async def test_status_errors_without_a_request_id_say_none(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(status=404, chunks=[b'{"msg":"no"}']))
    with pytest.raises(acytoo.NotFoundError) as caught:
        await read_all(acytoo_server.url)
    assert caught.value.request_id is None


# --- what is retried, table-driven ------------------------------------------------------


def _status(status: int) -> acytoo.APIStatusError:
    cls = acytoo.errors.status_error_class(status)
    return cls("x", status=status, body="", url="http://127.0.0.1/")


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (acytoo.ConnectError("refused"), True),
        (acytoo.ConnectTimeout("slow"), True),
        (acytoo.ReadTimeout("silent"), True),
        (acytoo.IncompleteResponseError("cut"), True),
        (acytoo.ProxyError("proxy said no"), False),
        (_status(400), False),
        (_status(401), False),
        (_status(404), False),
        (_status(429), True),
        (_status(500), True),
        (_status(503), True),
        (acytoo.InvalidRequestError("bad"), False),
    ],
)
def test_retryable_errors(error: acytoo.AcytooError, retryable: bool) -> None:
    assert _retryable(error) is retryable
