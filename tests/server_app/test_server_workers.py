"""``--workers``: real supervisor and worker processes; crash restart, SIGTERM drain, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from acytoo import Acytoo, IncompleteResponseError
from servers.openai_upstream import OpenAIUpstream, SSEReply, text_events
from servers.ports import refuses_connections

USER = [{"role": "user", "content": "Hello"}]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX fork and signals")


class Supervised:
    """``python -m acytoo.server --workers N``; its log lines are collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.url = ""
        self.lines: list[str] = []
        self.new_line = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reader = asyncio.ensure_future(self._read())
        match = await self.wait_for_line(r"listening on (http://\S+)")
        self.url = match[1]

    async def _read(self) -> None:
        assert self.process.stderr is not None
        # Read to the end so a full pipe never blocks the workers' logging.
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace"))
            self.new_line.set()

    async def wait_for_line(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first log line matching ``pattern`` (already seen or yet to come)."""

        async def find() -> re.Match[str]:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if match := re.search(pattern, line):
                        return match
                seen = len(self.lines)
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.lines)}")
                self.new_line.clear()
                await self.new_line.wait()

        return await asyncio.wait_for(find(), timeout)

    def workers(self) -> list[int]:
        """The supervisor's child processes."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(child) for child in children.read_text().split()] if children.exists() else []

    async def wait(self, timeout: float = 60) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code


@pytest.fixture
async def supervised() -> AsyncIterator[list[Supervised]]:
    started: list[Supervised] = []
    yield started
    for server in started:
        if server.process.returncode is None:
            workers = server.workers()
            server.process.kill()
            for pid in workers:  # each in a process group of its own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await server.process.wait()
        if server._reader is not None:
            server._reader.cancel()


async def start_workers(started: list[Supervised], *args: str) -> Supervised:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("OPENAI_API_KEY", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acytoo.server",
        "--port",
        "0",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    server = Supervised(process)
    started.append(server)
    await server.start()
    return server


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


async def test_two_workers_serve_one_port_and_name_themselves(supervised) -> None:
    server = await start_workers(supervised, "--workers", "2")
    await server.wait_for_line(r"\[w1\] acytoo\.server: serving on")
    await server.wait_for_line(r"\[w2\] acytoo\.server: serving on")
    assert len(server.workers()) == 2
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(20):
            async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as r:
                assert r.status == 200
                await r.read()
        async with http.get(f"{server.url}/metrics") as response:
            text = await response.text()
    # One scrape adds up every worker's counts (multiprocess mode).
    total = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "acytoo_requests_total"
        and sample.labels == {"endpoint": "/api/completions", "status": "200"}
    )
    assert total == 20
    access = [line for line in server.lines if "acytoo.server.access" in line]
    assert all(re.search(r"\[w[12]\]", line) for line in access)
    server.process.send_signal(signal.SIGTERM)
    assert await server.wait() == 0


async def test_a_crashed_worker_is_restarted(supervised) -> None:
    server = await start_workers(supervised, "--workers", "2")
    await server.wait_for_line(r"\[w2\] acytoo\.server: serving on")
    before = server.workers()
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    await server.wait_for_line(rf"worker w\d \(pid {victim}\) died \(signal SIGKILL\); restarting")
    for _ in range(400):  # bounded: the replacement shows up within seconds
        workers = server.workers()
        if len(workers) == 2 and victim not in workers:
            break
        await asyncio.sleep(0.05)
    assert len(workers) == 2
    assert victim not in workers
    replacement = next(pid for pid in workers if pid not in before)
    await server.wait_for_line(rf"worker w\d started \(pid {replacement}\)")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(10):
            async with http.get(f"{server.url}/healthz") as response:
                assert response.status == 200
    server.process.send_signal(signal.SIGTERM)
    assert await server.wait() == 0


async def two_workers_answering(
    upstream: OpenAIUpstream, supervised: list[Supervised], grace_period: int
) -> tuple[Supervised, list[int], AsyncIterator[str]]:
    """Two workers relaying to ``upstream``, one answer started and held there: the
    server, its workers' pids and the answer's chunks (its first one read)."""
    upstream.reply(SSEReply(text_events(["first"]), ending="hold"))
    server = await start_workers(
        supervised,
        "--workers",
        "2",
        "--backend",
        "openai",
        "--upstream-url",
        upstream.base_url,
        "--grace-period",
        str(grace_period),
    )
    workers = server.workers()
    chunks = Acytoo.configure(url=server.url, max_retries=0).create_async_generator("", USER)
    assert await asyncio.wait_for(anext(chunks), 30) == "first"
    return server, workers, chunks


async def test_sigterm_drains_every_worker_and_leaves_no_process(
    openai_upstream: OpenAIUpstream, supervised
) -> None:
    server, workers, chunks = await two_workers_answering(openai_upstream, supervised, 60)
    try:
        server.process.send_signal(signal.SIGTERM)
        assert await refuses_connections(server.url)
        assert server.process.returncode is None  # still finishing the answer
        openai_upstream.release()
        assert [text async for text in chunks] == []  # ends cleanly
    finally:
        await chunks.aclose()
    assert await server.wait() == 0
    assert not any(alive(pid) for pid in workers)


async def test_a_second_signal_stops_at_once(openai_upstream: OpenAIUpstream, supervised) -> None:
    server, workers, chunks = await two_workers_answering(openai_upstream, supervised, 600)
    try:
        server.process.send_signal(signal.SIGINT)
        assert await refuses_connections(server.url)
        server.process.send_signal(signal.SIGINT)
        with pytest.raises(IncompleteResponseError):
            await asyncio.wait_for(anext(chunks), 30)
    finally:
        await chunks.aclose()
    assert await server.wait(30) == 0  # far sooner than the 600 s grace period
    assert not any(alive(pid) for pid in workers)


async def test_workers_stop_when_the_supervisor_is_killed(supervised) -> None:
    server = await start_workers(supervised, "--workers", "2")
    await server.wait_for_line(r"\[w2\] acytoo\.server: serving on")
    workers = server.workers()
    server.process.kill()
    await server.process.wait()
    for _ in range(400):  # bounded: each notices within about a second
        if not any(alive(pid) for pid in workers):
            break
        await asyncio.sleep(0.05)
    assert not any(alive(pid) for pid in workers)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "2", "--rate-limit", "10/s"), "needs --redis-url"),
        (("--workers", "0"), "at least 1"),
        (("--workers", "many"), "'many' is not a number"),
    ],
)
async def test_bad_worker_settings_are_one_clear_line(args, message) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acytoo.server",
        "--port",
        "0",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert message in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_workers_share_one_limit_through_redis(supervised, redis_server) -> None:
    server = await start_workers(
        supervised,
        "--workers",
        "2",
        "--rate-limit",
        "1/hour,burst=4",
        "--redis-url",
        redis_server.url,
    )
    await server.wait_for_line(r"\[w2\] acytoo\.server: serving on")
    statuses: list[int] = []

    def served_by() -> set[str]:
        return {
            match[1]
            for line in server.lines
            if (match := re.search(r"\[(w\d)\] acytoo\.server\.access", line))
        }

    # A new connection per request, until both workers have taken some (bounded).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        while len(statuses) < 12 or (served_by() != {"w1", "w2"} and len(statuses) < 300):
            async with http.get(f"{server.url}/v1/models") as response:
                statuses.append(response.status)
                await response.read()
    await server.wait_for_line(r"\[w1\] acytoo\.server\.access")
    await server.wait_for_line(r"\[w2\] acytoo\.server\.access")
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}  # one limit, not one per worker
    server.process.send_signal(signal.SIGTERM)
    assert await server.wait() == 0
