"""Edges of the connection guard, with real sockets: an answer far larger than the socket
buffers (the guard passes flow control on), the app embedded in a plain aiohttp site,
a guarded site's own options, and the protocol logger's two kinds of failure."""

from __future__ import annotations

import logging
import socket

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from server_helpers import USER, scripted

from acytoo.server import Backend, ServerConfig, create_app
from acytoo.server.connections import ConnectionGuard, GuardedSite, ProtocolLogger

# One write far past any loopback socket buffer: the transport must pause the
# writer and resume it as the client reads.
HUGE = "x" * (16 * 1024 * 1024)


async def test_an_answer_larger_than_the_socket_buffers_arrives_whole(start_server, http) -> None:
    server = await start_server(Backend(scripted([HUGE, "end"])), header_timeout=5.0)
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200
        size = 0
        tail = b""
        async for piece in response.content.iter_chunked(64 * 1024):
            size += len(piece)
            tail = (tail + piece)[-3:]
    assert size == len(HUGE) + 3
    assert tail == b"end"
    # The connection is still in a good state for the next request.
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200


async def test_the_app_in_a_plain_aiohttp_site_still_serves(http) -> None:
    """Embedding: no GuardedSite, so the middleware has no guard to tell."""
    runner = web.AppRunner(create_app(ServerConfig(), Backend(scripted())), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        async with http.post(f"{url}/api/completions", json={"messages": USER}) as response:
            assert response.status == 200
            assert await response.text() == "Hello, world"
    finally:
        await runner.cleanup()


async def test_a_guarded_site_with_reuse_options_serves_and_names_itself(http) -> None:
    runner = web.AppRunner(create_app(ServerConfig(), Backend(scripted())), access_log=None)
    await runner.setup()
    try:
        guard = ConnectionGuard(max_connections=4, header_timeout=5.0)
        site = GuardedSite(runner, "127.0.0.1", 0, guard, reuse_address=True, reuse_port=True)
        assert site.name == "http://127.0.0.1:0"
        assert GuardedSite(runner, "", 8080, guard).name == "http://0.0.0.0:8080"
        await site.start()
        host, port = runner.addresses[0][:2]
        async with http.get(f"http://{host}:{port}/healthz") as response:
            assert response.status == 200
        # SO_REUSEPORT was asked for: a second socket may bind the same port.
        other = socket.socket()
        try:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind((host, port))
        finally:
            other.close()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("limit", [0, -1])
def test_a_guard_needs_room_for_one_connection(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ConnectionGuard(max_connections=limit, header_timeout=1.0)


def test_the_protocol_logger_keeps_tracebacks_only_for_real_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = ProtocolLogger(logging.getLogger("acytoo.test.protocol"), {})
    secret = "Bearer sk-never-logged"
    with caplog.at_level(logging.WARNING, logger="acytoo.test.protocol"):
        adapter.exception("Error handling request", exc_info=BadHttpMessage(secret))
        adapter.exception("Error handling request", exc_info=RuntimeError("a bug of ours"))
    malformed, bug = caplog.records
    assert (malformed.levelno, malformed.exc_info) == (logging.WARNING, None)
    assert malformed.getMessage() == "rejected a malformed request: BadHttpMessage"
    assert secret not in caplog.text
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None
    assert isinstance(bug.exc_info[1], RuntimeError)
