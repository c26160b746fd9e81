"""SIGTERM on a real ``python -m acytoo.server`` process: stop accepting, let answers in
flight finish within the grace period, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from acytoo import Acytoo, IncompleteResponseError
from servers.openai_upstream import OpenAIUpstream, SSEReply, text_events
from servers.ports import refuses_connections

USER = [{"role": "user", "content": "Hello"}]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class ServerProcess:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def stop(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


async def start_process(
    *args: str, module: tuple[str, ...] = ("acytoo.server",), **environment: str
) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("OPENAI_API_KEY", None)
    env.update(environment)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *module,
        "--port",
        "0",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    seen: list[bytes] = []
    try:
        # Bounded: the ready line comes within seconds or the test fails.
        for _ in range(200):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            seen.append(line)
            match = re.search(rb"listening on (http://\S+)", line)
            if match:
                return ServerProcess(process, match[1].decode())
            if not line:
                break
    except BaseException:
        process.kill()
        await process.wait()
        raise
    process.kill()
    await process.wait()
    raise AssertionError(f"server did not start: {b''.join(seen).decode(errors='replace')}")


@pytest.fixture
async def server_process() -> AsyncIterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()


async def test_sigterm_lets_the_stream_in_flight_finish(
    openai_upstream: OpenAIUpstream, server_process
) -> None:
    openai_upstream.reply(SSEReply(text_events(["first", " and the rest"]), ending="hold"))
    server = await start_process(
        "--backend", "openai", "--upstream-url", openai_upstream.base_url, "--grace-period", "60"
    )
    server_process.append(server)
    client = Acytoo.configure(url=server.url, max_retries=0)
    chunks = client.create_async_generator("", USER)
    try:
        # The upstream holds after its events: the text so far arrives (in one
        # chunk or two, as the reads fall), the body stays open.
        received = ""
        while received != "first and the rest" and len(received) < 18:
            received += await asyncio.wait_for(anext(chunks), 20)
        assert received == "first and the rest"
        server.process.send_signal(signal.SIGTERM)
        assert await refuses_connections(server.url)
        assert server.process.returncode is None  # still finishing the answer
        openai_upstream.release()
        rest = [text async for text in chunks]  # ends cleanly: no IncompleteResponseError
    finally:
        await chunks.aclose()
    assert rest == []
    assert await asyncio.wait_for(server.process.wait(), 30) == 0


@contextlib.asynccontextmanager
async def held_stream(
    upstream: OpenAIUpstream, server_process: list[ServerProcess], grace_period: str
) -> AsyncIterator[tuple[ServerProcess, AsyncIterator[str]]]:
    """A server on ``upstream`` with one stream that has sent "first" and is held open."""
    upstream.reply(SSEReply(text_events(["first"]), ending="hold"))
    server = await start_process(
        "--backend", "openai", "--upstream-url", upstream.base_url, "--grace-period", grace_period
    )
    server_process.append(server)
    chunks = Acytoo.configure(url=server.url, max_retries=0).create_async_generator("", USER)
    try:
        assert await asyncio.wait_for(anext(chunks), 20) == "first"
        yield server, chunks
    finally:
        await chunks.aclose()


# "0": no grace at all (aiohttp reads a shutdown timeout of 0 as "no limit").
@pytest.mark.parametrize("grace_period", ["0.5", "0"])
async def test_streams_still_running_after_the_grace_period_are_cut(
    openai_upstream: OpenAIUpstream, server_process: list[ServerProcess], grace_period: str
) -> None:
    async with held_stream(openai_upstream, server_process, grace_period) as (server, chunks):
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(IncompleteResponseError):
            await asyncio.wait_for(anext(chunks), 30)
    await openai_upstream.wait_disconnected(timeout=30)
    assert await asyncio.wait_for(server.process.wait(), 30) == 0


async def test_a_second_sigterm_stops_at_once(
    openai_upstream: OpenAIUpstream, server_process: list[ServerProcess]
) -> None:
    async with held_stream(openai_upstream, server_process, "600") as (server, chunks):
        server.process.send_signal(signal.SIGTERM)
        assert await refuses_connections(server.url)
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(IncompleteResponseError):
            await asyncio.wait_for(anext(chunks), 30)
    # Far sooner than the 600 s grace period.
    assert await asyncio.wait_for(server.process.wait(), 30) == 0
    await openai_upstream.wait_disconnected(timeout=30)


@pytest.mark.parametrize("module", [("acytoo.server",), ("acytoo", "serve")])
async def test_idle_server_exits_0_on_sigterm(server_process, module) -> None:
    server = await start_process(module=module)  # the offline backend
    server_process.append(server)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/healthz") as response:
            assert response.status == 200
        async with session.post(
            f"{server.url}/api/completions", json={"messages": USER}
        ) as response:
            assert response.status == 200
            assert await response.text()
    assert server.url.startswith("http://127.0.0.1:")
    assert await server.stop() == 0


async def test_secrets_from_the_environment(server_process) -> None:
    server = await start_process(ACYTOO_SERVER_PASSWORD="pw", ACYTOO_SERVER_API_KEY="k1 k2")
    server_process.append(server)
    url = f"{server.url}/api/completions"
    async with aiohttp.ClientSession() as session:
        for password, status in (("", 401), ("nope", 401), ("pw", 200), ("k2", 200)):
            body = {"messages": USER, "password": password}
            async with session.post(url, json=body) as response:
                assert response.status == status
                await response.read()
        for token, status in (("x", 401), ("k1", 200), ("pw", 200)):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{server.url}/v1/models", headers=headers) as response:
                assert response.status == status
    assert await server.stop() == 0
