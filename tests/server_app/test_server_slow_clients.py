"""Slow and hostile clients, with real sockets: the header deadline, the body stall
timeout and the connection limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from server_helpers import USER, scripted

from acytoo.server import Backend, ServerConfig
from acytoo.server.connections import default_max_connections

# Generous: the machine is shared and loaded; a closed connection shows up long before.
CLOSED_WITHIN = 30.0
BODY = json.dumps({"messages": USER}).encode()


@contextlib.asynccontextmanager
async def raw_connection(
    server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(-1), CLOSED_WITHIN)


def request_head(content_length: int, path: str = "/api/completions") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


async def test_a_connection_that_sends_nothing_is_closed(start_server) -> None:
    server = await start_server(Backend(scripted()), header_timeout=0.5)
    async with raw_connection(server) as (reader, _):
        assert await read_until_closed(reader) == b""


async def test_half_sent_headers_are_closed(start_server) -> None:
    server = await start_server(Backend(scripted()), header_timeout=0.5)
    async with raw_connection(server) as (reader, writer):
        writer.write(b"POST /api/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
        assert await read_until_closed(reader) == b""


async def test_trickled_headers_do_not_restart_the_clock(start_server) -> None:
    server = await start_server(Backend(scripted()), header_timeout=0.5)
    head = request_head(len(BODY))
    async with raw_connection(server) as (reader, writer):
        closed = asyncio.ensure_future(reader.read(-1))
        sent = 0
        # One byte every 50 ms would take far longer than the limit to finish the head.
        for sent in range(len(head) - 1):
            if closed.done():
                break
            writer.write(head[sent : sent + 1])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait({closed}, timeout=0.05)
        assert await asyncio.wait_for(closed, CLOSED_WITHIN) == b""
        assert sent < len(head) - 1


async def test_an_idle_kept_alive_connection_is_closed_after_its_answer(start_server) -> None:
    # Long enough that a loaded machine still reads the request in time.
    server = await start_server(Backend(scripted()), header_timeout=2.0)
    async with raw_connection(server) as (reader, writer):
        writer.write(request_head(len(BODY)) + BODY)
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 200")
    assert raw.endswith(b"0\r\n\r\n")  # the whole chunked answer came before the close


async def test_a_long_answer_is_not_cut_by_the_header_deadline(start_server, http) -> None:
    gate = asyncio.Event()
    server = await start_server(Backend(scripted(gate=gate)), header_timeout=1.0)
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200
        assert await response.content.readany() == b"Hello"
        # Well past the header deadline while the answer is held.
        await asyncio.sleep(2.5)
        gate.set()
        assert await response.text() == ", world"


async def test_a_stalled_body_gets_408_and_the_connection_ends(start_server) -> None:
    calls: list[object] = []
    server = await start_server(Backend(scripted(calls=calls)), body_timeout=0.5)
    async with raw_connection(server) as (reader, writer):
        writer.write(request_head(len(BODY)) + BODY[:10])
        raw = await read_until_closed(reader)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    error = json.loads(body)
    assert error["msg"] == error["error"]["message"]
    assert "stalled" in error["msg"]
    assert error["error"]["code"] == "request_timeout"
    assert calls == []


async def test_a_stalled_body_on_the_openai_endpoint_gets_408(start_server) -> None:
    server = await start_server(Backend(scripted()), body_timeout=0.5)
    async with raw_connection(server) as (reader, writer):
        writer.write(request_head(100, "/v1/chat/completions") + b'{"messages": [')
        raw = await read_until_closed(reader)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert set(json.loads(body)) == {"error"}


async def test_a_slow_but_moving_body_is_read(start_server, http) -> None:
    server = await start_server(Backend(scripted()), body_timeout=5.0)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(BODY), 8):
            await asyncio.sleep(0.01)
            yield BODY[start : start + 8]

    async with http.post(
        f"{server.url}/api/completions",
        data=pieces(),
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        assert await response.text() == "Hello, world"


async def test_many_slow_connections_do_not_stop_normal_requests(start_server, http) -> None:
    server = await start_server(Backend(scripted()), header_timeout=60.0)
    slow: list[asyncio.StreamWriter] = []
    try:
        for _ in range(300):
            _, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(b"POST /api/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(writer)
        for _ in range(20):
            async with http.post(
                f"{server.url}/api/completions", json={"messages": USER}
            ) as response:
                assert response.status == 200
                assert await response.text() == "Hello, world"
    finally:
        for writer in slow:
            writer.close()


async def test_beyond_the_limit_the_longest_waiting_connection_makes_room(
    start_server, http
) -> None:
    # A long header deadline: only the limit may close the idle connections here.
    server = await start_server(Backend(scripted()), max_connections=3, header_timeout=120.0)
    idle = []
    try:
        for _ in range(3):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            idle.append((reader, writer))
            # Accepted in this order (the server sees each before the next).
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as r:
            assert r.status == 200
            assert await r.text() == "Hello, world"
        # The first idle connection was closed to make room; the last ones were not.
        await read_until_closed(idle[0][0])
        assert idle[0][0].at_eof()
        assert not idle[1][0].at_eof()
        assert not idle[2][0].at_eof()
    finally:
        for _, writer in idle:
            writer.close()


async def test_beyond_the_limit_with_every_connection_busy_is_503(start_server) -> None:
    gate = asyncio.Event()
    server = await start_server(Backend(scripted(gate=gate)), max_connections=2)
    busy = []
    try:
        for _ in range(2):
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(request_head(len(BODY)) + BODY)
            busy.append((reader, writer))
            assert (await reader.readuntil(b"Hello")).startswith(b"HTTP/1.1 200")
        async with raw_connection(server) as (reader, writer):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            raw = await read_until_closed(reader)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503")
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        # The answers in flight were not cut.
        gate.set()
        for reader, _ in busy:
            rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), CLOSED_WITHIN)
            assert b"world" in rest
    finally:
        gate.set()
        for _, writer in busy:
            writer.close()


async def test_the_server_keeps_serving_after_the_limit_was_reached(start_server, http) -> None:
    server = await start_server(Backend(scripted()), max_connections=2, header_timeout=60.0)
    writers = []
    try:
        for _ in range(10):
            _, writer = await asyncio.open_connection(server.host, server.port)
            writers.append(writer)
        for _ in range(5):
            async with http.get(f"{server.url}/healthz") as response:
                assert response.status == 200
    finally:
        for writer in writers:
            writer.close()


async def test_closed_connections_are_no_longer_counted(start_server, http) -> None:
    server = await start_server(Backend(scripted()), max_connections=1)
    # One at a time, each on a new connection: never over the limit of 1.
    for _ in range(5):
        async with raw_connection(server) as (reader, writer):
            writer.write(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await read_until_closed(reader)).startswith(b"HTTP/1.0 200")
        await asyncio.sleep(0)


def test_the_default_limit_follows_the_open_files_limit() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "from acytoo.server.connections import default_max_connections\n"
        "print(default_max_connections())\n"
    )
    lowered = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(lowered.stdout) == (256 - 64) // 2
    assert default_max_connections() >= 16


@pytest.mark.parametrize(
    "fields",
    [{"header_timeout": 0}, {"body_timeout": -1}, {"header_timeout": float("nan")}],
)
def test_bad_timeouts_are_refused(fields) -> None:
    from acytoo._base_errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="seconds"):
        ServerConfig(**fields)


def test_bad_connection_limit_is_refused() -> None:
    from acytoo._base_errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="max_connections"):
        ServerConfig(max_connections=0)


async def test_a_guarded_site_can_listen_on_a_given_socket() -> None:
    """For worker processes that share one listening socket."""
    from aiohttp import web

    from acytoo.server import create_app
    from acytoo.server.connections import ConnectionGuard, GuardedSite

    runner = web.AppRunner(create_app(ServerConfig(), Backend(scripted())), access_log=None)
    await runner.setup()
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        guard = ConnectionGuard(max_connections=10, header_timeout=2.0)
        await GuardedSite(runner, "127.0.0.1", port, guard, sock=sock).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = await read_until_closed(reader)  # then closed by the header deadline
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert guard.timed_out == 1
        assert guard.open == 0
    finally:
        await runner.cleanup()
        sock.close()


async def test_a_trickled_body_gets_408_though_it_never_stalls(start_server) -> None:
    """A byte every 50 ms never stalls for 1 s, but is far slower than 500 bytes/s."""
    server = await start_server(Backend(scripted()), body_timeout=1.0)
    body = json.dumps({"messages": USER, "padding": "x" * 400}).encode()
    async with raw_connection(server) as (reader, writer):
        writer.write(request_head(len(body)))
        answer = asyncio.ensure_future(reader.read(-1))
        sent = 0
        for sent in range(len(body)):
            if answer.done():
                break
            writer.write(body[sent : sent + 1])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait({answer}, timeout=0.05)
        raw = await asyncio.wait_for(answer, CLOSED_WITHIN)
    assert sent < len(body) - 1
    head, _, error = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert "slower than 500 bytes/s" in json.loads(error)["msg"]
