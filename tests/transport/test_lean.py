"""The lean HTTP/1.1 client (direct connections) against a raw TCP server on 127.0.0.1.

The server writes exact bytes, so these tests cover the framing an aiohttp
server never produces: chunks split anywhere, extensions and trailers,
close-delimited bodies, HTTP/1.0, interim answers, compressed and malformed
answers; and the pool: reuse, limits, time limits, cancellation, shutdown.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from acytoo import errors, set_max_connections
from acytoo._transport import (
    HTTPRequest,
    RetryPolicy,
    Timeout,
    TransportOptions,
    _lean,
    aclose_sessions,
    open_stream,
)
from servers.raw_http import RawHTTPServer, Script

NO_RETRY = TransportOptions(proxy="", retry=RetryPolicy(max_retries=0))


def post(url: str, body: bytes = b'{"x": 1}', headers: dict[str, str] | None = None) -> HTTPRequest:
    return HTTPRequest(URL(url + "/v1/chat"), headers or {"content-type": "application/json"}, body)


async def fetch(
    server: RawHTTPServer, options: TransportOptions = NO_RETRY, read: int = 64 * 1024
) -> bytes:
    async with open_stream(post(server.url), options) as response:
        parts = []
        async for chunk in response.iter_bytes():
            parts.append(chunk)
        assert response.at_eof
    return b"".join(parts)


def ok(body: bytes, *head: bytes) -> bytes:
    extra = b"".join(line + b"\r\n" for line in head)
    return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
    b"5;name=value\r\nHello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n"
)


async def test_the_request_goes_out_as_one_exact_message(raw_http_server: RawHTTPServer) -> None:
    body = '{"text": "héllo"}'.encode()
    headers = {"content-type": "application/json", "authorization": "Bearer k"}
    async with open_stream(post(raw_http_server.url, body, headers), NO_RETRY) as response:
        assert response.status == 200
    request = raw_http_server.requests[0]
    assert request.request_line == "POST /v1/chat HTTP/1.1"
    assert request.header("Host") == f"127.0.0.1:{raw_http_server.port}"
    assert request.header("Content-Length") == str(len(body))
    assert request.header("Authorization") == "Bearer k"
    # The relay hands bytes on as they come, so it asks for them uncompressed.
    assert request.header("Accept-Encoding") == "identity"
    assert request.header("User-Agent") == "acytoo"
    assert request.body == body


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
async def test_a_chunked_body_split_anywhere_decodes_the_same(
    raw_http_server: RawHTTPServer, piece: int
) -> None:
    pieces = [CHUNKED[i : i + piece] for i in range(0, len(CHUNKED), piece)]
    raw_http_server.queue(Script(pieces), Script(pieces))
    assert await fetch(raw_http_server) == b"Hello, world"
    # The trailers were read to the end: the connection is clean and reused.
    assert await fetch(raw_http_server) == b"Hello, world"
    assert [r.connection for r in raw_http_server.requests] == [1, 1]


async def test_a_content_length_body_keeps_the_connection(raw_http_server: RawHTTPServer) -> None:
    for _ in range(3):
        assert await fetch(raw_http_server) == b"Hello"
    assert {r.connection for r in raw_http_server.requests} == {1}


@pytest.mark.parametrize(
    "answer",
    [
        ok(b"Hello", b"Connection: close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nHello",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_an_answer_that_ends_the_connection_is_not_reused(
    raw_http_server: RawHTTPServer, answer: bytes
) -> None:
    raw_http_server.queue(Script([answer], close=True))
    assert await fetch(raw_http_server) == b"Hello"
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_a_body_without_length_runs_until_the_close(raw_http_server: RawHTTPServer) -> None:
    raw_http_server.queue(Script([b"HTTP/1.1 200 OK\r\n\r\n", b"until ", b"the end"], close=True))
    assert await fetch(raw_http_server) == b"until the end"
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_an_interim_answer_is_skipped(raw_http_server: RawHTTPServer) -> None:
    raw_http_server.queue(Script([b"HTTP/1.1 100 Continue\r\n\r\n", ok(b"after")]))
    assert await fetch(raw_http_server) == b"after"


async def test_an_answer_without_a_body(raw_http_server: RawHTTPServer) -> None:
    raw_http_server.queue(Script([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"]))
    async with open_stream(post(raw_http_server.url), NO_RETRY) as response:
        assert response.status == 204
        assert response.at_eof
        assert [chunk async for chunk in response.iter_bytes()] == []
    assert await fetch(raw_http_server) == b"Hello"
    assert {r.connection for r in raw_http_server.requests} == {1}


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_a_compressed_answer_is_decompressed(
    raw_http_server: RawHTTPServer, encoding: str, compress: object
) -> None:
    assert callable(compress)
    body = compress(b"data: compressed\n\n" * 100)
    raw_http_server.queue(Script([ok(body, b"Content-Encoding: " + encoding.encode())]))
    assert await fetch(raw_http_server) == b"data: compressed\n\n" * 100


async def test_an_unknown_encoding_is_a_clear_error(raw_http_server: RawHTTPServer) -> None:
    raw_http_server.queue(Script([ok(b"xx", b"Content-Encoding: br")]))
    with pytest.raises(errors.IncompleteResponseError, match="encoded as 'br'"):
        await fetch(raw_http_server)


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2xx OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (70 * 1024), "larger than"),
    ],
    ids=["version", "status", "header", "length", "huge-head"],
)
async def test_a_malformed_head_is_an_incomplete_response(
    raw_http_server: RawHTTPServer, answer: bytes, match: str
) -> None:
    raw_http_server.queue(Script([answer]))
    with pytest.raises(errors.IncompleteResponseError, match=match):
        await fetch(raw_http_server)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nHello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000,
    ],
    ids=["size", "crlf", "size-line"],
)
async def test_broken_chunks_are_an_incomplete_response(
    raw_http_server: RawHTTPServer, answer: bytes
) -> None:
    raw_http_server.queue(Script([answer], close=True))
    with pytest.raises(errors.IncompleteResponseError):
        await fetch(raw_http_server)


@pytest.mark.parametrize(
    "head",
    [b"Content-Length: 10\r\n\r\nHello", b"Transfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n"],
    ids=["length", "chunked"],
)
async def test_a_body_cut_short_is_an_incomplete_response(
    raw_http_server: RawHTTPServer, head: bytes
) -> None:
    raw_http_server.queue(Script([b"HTTP/1.1 200 OK\r\n" + head], close=True))
    with pytest.raises(errors.IncompleteResponseError, match="ended before it was complete"):
        await fetch(raw_http_server)


async def test_silence_is_a_read_timeout(raw_http_server: RawHTTPServer) -> None:
    options = TransportOptions(
        proxy="", timeout=Timeout(read=0.2), retry=RetryPolicy(max_retries=0)
    )
    raw_http_server.queue(
        Script([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHello", b""], hold=True)
    )
    with pytest.raises(errors.ReadTimeout):
        await fetch(raw_http_server, options)
    raw_http_server.release()
    raw_http_server.queue(Script([b"HTTP/1.1 200 OK\r\n", b"\r\n"], hold=True))
    with pytest.raises(errors.ReadTimeout):
        await fetch(raw_http_server, options)
    raw_http_server.release()


async def test_a_large_body_streams_through_with_back_pressure(
    raw_http_server: RawHTTPServer,
) -> None:
    body = bytes(range(256)) * 8 * 1024  # 2 MiB, more than the read buffer holds
    raw_http_server.queue(Script([ok(body)]))
    async with open_stream(post(raw_http_server.url), NO_RETRY) as response:
        received = bytearray(response.first_chunk)
        content = response._response.content
        while chunk := await content.read(4096):
            received += chunk
            await asyncio.sleep(0)  # a slow reader: the socket is paused meanwhile
    assert bytes(received) == body
    assert await fetch(raw_http_server) == b"Hello"


async def test_leaving_mid_body_closes_the_connection(raw_http_server: RawHTTPServer) -> None:
    raw_http_server.queue(
        Script([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHello", b""], hold=True)
    )
    async with open_stream(post(raw_http_server.url), NO_RETRY) as response:
        assert response.first_chunk == b"Hello"
    await asyncio.wait_for(raw_http_server.closed.wait(), 10)
    raw_http_server.release()
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_a_cancelled_request_frees_its_connection(raw_http_server: RawHTTPServer) -> None:
    previous = set_max_connections(1)
    try:
        raw_http_server.queue(Script([b"HTTP/1.1 200 OK\r\n\r\n"], hold=True))
        task = asyncio.create_task(fetch(raw_http_server))
        await asyncio.wait_for(raw_http_server.received.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        raw_http_server.release()
        # With a pool of one, this waits forever if the slot leaked.
        assert await asyncio.wait_for(fetch(raw_http_server), 10) == b"Hello"
    finally:
        set_max_connections(previous)


async def test_a_full_pool_waits_then_times_out_naming_the_pool(
    raw_http_server: RawHTTPServer,
) -> None:
    previous = set_max_connections(1)
    try:
        raw_http_server.queue(
            Script([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhe", b"ld"], hold=True)
        )
        async with open_stream(post(raw_http_server.url), NO_RETRY):
            short = TransportOptions(
                proxy="", timeout=Timeout(connect=0.2), retry=RetryPolicy(max_retries=0)
            )
            with pytest.raises(errors.ConnectTimeout, match="connections of the pool were busy"):
                await fetch(raw_http_server, short)
            waiting = asyncio.create_task(fetch(raw_http_server))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            raw_http_server.release()
        # The held answer was left unread (its connection dropped): the waiter gets a new one.
        assert await asyncio.wait_for(waiting, 10) == b"Hello"
    finally:
        set_max_connections(previous)


async def test_an_idle_connection_past_its_keepalive_is_not_reused(
    raw_http_server: RawHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await fetch(raw_http_server) == b"Hello"
    monkeypatch.setattr(_lean, "_KEEPALIVE_SECONDS", 0.0)
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_an_idle_connection_is_closed_after_its_keepalive(
    raw_http_server: RawHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lean, "_KEEPALIVE_SECONDS", 0.05)
    assert await fetch(raw_http_server) == b"Hello"
    # Nothing else happens: the pool's own timer closes the idle socket.
    await asyncio.wait_for(raw_http_server.closed.wait(), 10)
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_a_connection_the_server_closed_while_idle_is_not_used(
    raw_http_server: RawHTTPServer,
) -> None:
    raw_http_server.queue(Script([ok(b"first")], close=True))
    assert await fetch(raw_http_server) == b"first"
    await asyncio.wait_for(raw_http_server.closed.wait(), 10)
    assert await fetch(raw_http_server) == b"Hello"
    assert [r.connection for r in raw_http_server.requests] == [1, 2]


async def test_aclose_sessions_closes_idle_connections(raw_http_server: RawHTTPServer) -> None:
    assert await fetch(raw_http_server) == b"Hello"
    raw_http_server.closed.clear()
    await aclose_sessions()
    await asyncio.wait_for(raw_http_server.closed.wait(), 10)
    assert await fetch(raw_http_server) == b"Hello"


async def test_a_refused_connection_is_a_connect_error(refused_port: int) -> None:
    request = post(f"http://127.0.0.1:{refused_port}")
    with pytest.raises(
        errors.ConnectError, match=f"cannot connect to http://127.0.0.1:{refused_port}"
    ):
        async with open_stream(request, NO_RETRY):
            pass


@pytest.fixture
def self_signed_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1 that nobody trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key, cert


@pytest.fixture
async def self_signed_server(self_signed_certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    """An HTTPS server on 127.0.0.1 with that certificate."""
    key, cert = self_signed_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_https_verifies_the_certificate(self_signed_server: int) -> None:
    request = post(f"https://127.0.0.1:{self_signed_server}")
    with pytest.raises(errors.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        async with open_stream(request, NO_RETRY):
            pass
