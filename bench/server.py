"""How much `acytoo serve` costs on top of going straight to the upstream.

One run on loopback, three processes: a fast OpenAI-compatible upstream stub
(a bare asyncio protocol answering from pre-built bytes), the server
(``python -m acytoo.server --backend openai``, the real command, in its own
process) and this client (aiohttp). Every workload runs straight against the
stub ("direct") and through the server, for each endpoint where it applies:

- ``acytoo``: ``POST /api/completions`` (plain text); direct is the stub's SSE stream;
- ``openai-stream``: ``POST /v1/chat/completions`` with ``stream: true``;
- ``openai``: ``POST /v1/chat/completions`` without streaming.

Workloads: (a) 500 requests one at a time, (b) 2,000 small requests at
concurrency 50, (c) one 20 MiB answer streamed in 1 KiB deltas, (d) 500
concurrent streaming clients (10 events 50 ms apart each), (f) clients that
leave mid-stream (until the upstream sees its request closed), (g) workload (b)
through ``--workers 1`` and ``--workers 2``. The server's peak
memory is its VmHWM. CPU time of the stub and the server during (b) shows
which one is the bottleneck. Usage::

    .venv/bin/python bench/server.py [--quick] [--workers-only]
    .venv/bin/python bench/server.py --profile FILE   # (b) only, the server under cProfile
    .venv/bin/python bench/server.py --instructions 300   # instructions per request (valgrind)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp

from _common import machine_line, proc_status_kib, start_server_process

MESSAGES = [{"role": "user", "content": "Say hello."}]
SMALL_ANSWER = ["Hello", " from", " the", " stub", "!"]
BIG_DELTA = "x" * 1023 + " "
SLOW_EVENTS = 10
SLOW_INTERVAL = 0.05


# ---------------------------------------------------------------- the upstream stub


def _event(content: str | None, *, role: bool = False, finish: bool = False) -> bytes:
    delta: dict[str, str] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    chunk = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if finish else None}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _response(body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def stub_responses(big_mib: int) -> dict[str, bytes]:
    small_sse = (
        _event("", role=True)
        + b"".join(_event(piece) for piece in SMALL_ANSWER)
        + _event(None, finish=True)
        + b"data: [DONE]\n\n"
    )
    completion = {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(SMALL_ANSWER)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }
    big_event = _event(BIG_DELTA)
    big_sse = (
        _event("", role=True)
        + big_event * (big_mib * 1024)
        + _event(None, finish=True)
        + b"data: [DONE]\n\n"
    )
    models = {"object": "list", "data": [{"id": "stub", "object": "model", "created": 0}]}
    return {
        "small-sse": _response(small_sse, "text/event-stream"),
        "small-json": _response(json.dumps(completion).encode(), "application/json"),
        "big-sse": _response(big_sse, "text/event-stream"),
        "models": _response(json.dumps(models).encode(), "application/json"),
    }


class StubProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies; answers from pre-built bytes."""

    responses: ClassVar[dict[str, bytes]] = {}
    tasks: ClassVar[set[asyncio.Task[None]]] = set()

    lost: ClassVar[Any] = None  # a queue: when a held stream's client left (monotonic)

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.holding = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.holding:
            self.lost.put(time.monotonic())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            match = re.search(rb"content-length:\s*(\d+)", head)
            length = int(match[1]) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        if head.startswith(b"get"):
            self.transport.write(self.responses["models"])
            return
        streaming = re.search(rb'"stream":\s*true', body) is not None
        if b'"model": "hold"' in body or b'"model":"hold"' in body:
            self.holding = True
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            event = _event("held ")
            self.transport.write(b"%x\r\n%s\r\n" % (len(event), event))
        elif b'"model": "slow"' in body or b'"model":"slow"' in body:
            task = asyncio.ensure_future(self.slow_stream())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif b'"model": "big"' in body or b'"model":"big"' in body:
            self.transport.write(self.responses["big-sse"])
        elif streaming:
            self.transport.write(self.responses["small-sse"])
        else:
            self.transport.write(self.responses["small-json"])

    async def slow_stream(self) -> None:
        assert self.transport is not None
        transport = self.transport
        transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        events = [_event("", role=True)] + [_event(f"word{i} ") for i in range(SLOW_EVENTS)]
        events += [_event(None, finish=True) + b"data: [DONE]\n\n"]
        for index, event in enumerate(events):
            if index > 1:
                await asyncio.sleep(SLOW_INTERVAL)
            if transport.is_closing():
                return
            transport.write(b"%x\r\n%s\r\n" % (len(event), event))
        transport.write(b"0\r\n\r\n")


def run_stub(big_mib: int, port_queue: Any, lost_queue: Any) -> None:
    StubProtocol.responses = stub_responses(big_mib)
    StubProtocol.lost = lost_queue

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(StubProtocol, "127.0.0.1", 0, backlog=2048)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


# ---------------------------------------------------------------- measuring


@dataclass
class Target:
    name: str
    url: str
    body: Callable[[str], dict[str, Any]]


def targets(stub: str, server: str) -> dict[str, tuple[Target, Target]]:
    """Per endpoint: (direct, through the server)."""

    def chat(stream: bool) -> Callable[[str], dict[str, Any]]:
        return lambda model: {"model": model, "messages": MESSAGES, "stream": stream}

    def acytoo(model: str) -> dict[str, Any]:
        return {"key": "", "model": model, "messages": MESSAGES, "temperature": 0.5, "password": ""}

    direct_stream = Target("direct", f"{stub}/v1/chat/completions", chat(True))
    return {
        "acytoo": (direct_stream, Target("server", f"{server}/api/completions", acytoo)),
        "openai-stream": (
            direct_stream,
            Target("server", f"{server}/v1/chat/completions", chat(True)),
        ),
        "openai": (
            Target("direct", f"{stub}/v1/chat/completions", chat(False)),
            Target("server", f"{server}/v1/chat/completions", chat(False)),
        ),
    }


async def one_request(
    session: aiohttp.ClientSession, target: Target, model: str = "stub"
) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds to the end, body bytes)."""
    start = time.perf_counter()
    first = 0.0
    size = 0
    async with session.post(target.url, json=target.body(model)) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.url}: HTTP {response.status}: {await response.text()}")
        async for chunk in response.content.iter_any():
            if not first:
                first = time.perf_counter() - start
            size += len(chunk)
    return first, time.perf_counter() - start, size


async def read_answer(session: aiohttp.ClientSession, target: Target, parse: bool) -> float:
    """Seconds to read the big answer; ``parse`` extracts the text from SSE like a client must."""
    start = time.perf_counter()
    chars = 0
    async with session.post(target.url, json=target.body("big")) as response:
        if parse:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    chars += len(delta.get("content") or "")
        else:
            async for chunk in response.content.iter_any():
                chars += len(chunk)
    seconds = time.perf_counter() - start
    if parse and chars < 1024:
        raise RuntimeError(f"{target.url}: no answer text")
    return seconds


def percentile(values: list[float], q: float) -> float:
    # Not _common.percentile: this rank (int(q% * n)) is the one the published
    # figures in docs/benchmarks.md were computed with.
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def sequential(session: aiohttp.ClientSession, target: Target, count: int) -> list[float]:
    for _ in range(20):  # warm-up: connections, caches
        await one_request(session, target)
    return [(await one_request(session, target))[1] for _ in range(count)]


async def concurrent(
    session: aiohttp.ClientSession, target: Target, count: int, workers: int
) -> tuple[float, list[float]]:
    remaining = count
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append((await one_request(session, target))[1])

    await asyncio.gather(*(worker() for _ in range(workers)))  # warm-up
    remaining = count
    latencies.clear()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - start), latencies


def selected(
    endpoints: dict[str, tuple[Target, Target]], workload: str, args: Any
) -> list[tuple[str, tuple[Target, Target]]]:
    """The endpoints to run ``workload`` on (none unless ``--only`` names it)."""
    if workload not in args.only:
        return []
    return [item for item in endpoints.items() if not args.endpoints or item[0] in args.endpoints]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


async def run(stub: str, server: str, server_pid: int, stub_pid: int, args: Any) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        endpoints = targets(stub, server)
        print(f"Machine: {machine()}\n")
        baseline_rss = proc_status_kib("VmRSS", server_pid)

        print(f"(a) {args.sequential} requests one at a time: latency ms")
        print(
            "| endpoint | direct p50 | direct p99 | server p50 | server p99 | added p50 | added p99 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, (direct, through) in selected(endpoints, "a", args):
            d = await sequential(session, direct, args.sequential)
            t = await sequential(session, through, args.sequential)
            print(
                f"| {name} | {ms(percentile(d, 50))} | {ms(percentile(d, 99))} | "
                f"{ms(percentile(t, 50))} | {ms(percentile(t, 99))} | "
                f"{ms(percentile(t, 50) - percentile(d, 50))} | "
                f"{ms(percentile(t, 99) - percentile(d, 99))} |"
            )

        print(
            f"\n(b) {args.requests} requests at concurrency {args.workers}, "
            f"median round of {args.rounds} (ratio range in brackets)"
        )
        print(
            "| endpoint | direct req/s | server req/s | ratio | added p50 ms | added p99 ms "
            "| server CPU | server CPU per request | stub CPU |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, (direct, through) in selected(endpoints, "b", args):
            # Alternating rounds, median of each: the machine is shared and noisy.
            rounds = []
            for _ in range(args.rounds):
                d_rate, d_lat = await concurrent(session, direct, args.requests, args.workers)
                cpu = (cpu_seconds(server_pid), cpu_seconds(stub_pid), time.perf_counter())
                t_rate, t_lat = await concurrent(session, through, args.requests, args.workers)
                wall = time.perf_counter() - cpu[2]
                rounds.append(
                    (
                        t_rate / d_rate,
                        d_rate,
                        t_rate,
                        percentile(t_lat, 50) - percentile(d_lat, 50),
                        percentile(t_lat, 99) - percentile(d_lat, 99),
                        (cpu_seconds(server_pid) - cpu[0]) / wall,
                        (cpu_seconds(stub_pid) - cpu[1]) / wall,
                        # CPU time per request moves far less with the machine's
                        # load than requests per second do.
                        (cpu_seconds(server_pid) - cpu[0]) / args.requests,
                    )
                )
            ratio, d_rate, t_rate, p50, p99, server_cpu, stub_cpu, _ = sorted(rounds)[
                len(rounds) // 2
            ]
            per_request = sorted(r[7] for r in rounds)[len(rounds) // 2]
            print(
                f"| {name} | {d_rate:,.0f} | {t_rate:,.0f} | {ratio:.2f}x "
                f"({min(r[0] for r in rounds):.2f}-{max(r[0] for r in rounds):.2f}) | "
                f"{ms(p50)} | {ms(p99)} | {server_cpu:.0%} | {per_request * 1e6:.0f} us | "
                f"{stub_cpu:.0%} |"
            )

        print(f"\n(c) one {args.big_mib} MiB answer in 1 KiB deltas, best of {args.runs}")
        print(
            "| client | MiB/s of answer | vs direct parsed | vs direct bytes "
            "| server CPU per answer |"
        )
        print("|---|---:|---:|---:|---:|")
        answer_mib = args.big_mib * len(BIG_DELTA) / 1024
        direct = endpoints["acytoo"][0]
        rows = [
            ("direct, bytes only (ceiling)", direct, False),
            ("direct, SSE lines + json.loads", direct, True),
            ("server /api/completions, text", endpoints["acytoo"][1], False),
            ("server /v1 stream, SSE lines + json.loads", endpoints["openai-stream"][1], True),
        ]
        best = []
        server_cpu = []
        for _, target, parse in rows if "c" in args.only else []:
            before = cpu_seconds(server_pid)
            best.append(min([await read_answer(session, target, parse) for _ in range(args.runs)]))
            server_cpu.append((cpu_seconds(server_pid) - before) / args.runs)
        for (label, _, _), seconds, cpu_used in zip(
            rows[: len(best)], best, server_cpu, strict=True
        ):
            print(
                f"| {label} | {answer_mib / seconds:,.0f} | {best[1] / seconds:.2f}x | "
                f"{best[0] / seconds:.2f}x | {cpu_used * 1000:.0f} ms |"
            )

        print(
            f"\n(d) {args.streams} concurrent streaming clients "
            f"({SLOW_EVENTS} events {SLOW_INTERVAL * 1000:.0f} ms apart)"
        )
        print(
            "| endpoint | errors | direct TTFB p50 | server TTFB p50 | server TTFB p99 | server total p50 |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for name in ("acytoo", "openai-stream") if "d" in args.only else ():
            direct, through = endpoints[name]
            results: dict[str, list[Any]] = {}
            for target in (direct, through):
                results[target.name] = await asyncio.gather(
                    *(one_request(session, target, "slow") for _ in range(args.streams)),
                    return_exceptions=True,
                )
            errors = sum(isinstance(r, BaseException) for r in results["server"])
            errors += sum(isinstance(r, BaseException) for r in results["direct"])
            ok = {k: [r for r in v if not isinstance(r, BaseException)] for k, v in results.items()}
            print(
                f"| {name} | {errors} | {ms(percentile([r[0] for r in ok['direct']], 50))} | "
                f"{ms(percentile([r[0] for r in ok['server']], 50))} | "
                f"{ms(percentile([r[0] for r in ok['server']], 99))} | "
                f"{ms(percentile([r[1] for r in ok['server']], 50))} |"
            )

        peak = proc_status_kib("VmHWM", server_pid)
        print(
            f"\nServer memory: {baseline_rss / 1024:.1f} MiB RSS after start-up, "
            f"peak (VmHWM) over the whole run {peak / 1024:.1f} MiB"
        )


async def disconnects(stub: str, server: str, lost: Any, count: int) -> None:
    """(f) A client leaves mid-stream: how long until the upstream sees its request closed."""
    print(f"\n(f) {count} clients leaving mid-stream: until the upstream sees it, ms")
    print("| endpoint | p50 | max |")
    print("|---|---:|---:|")
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        for name, (_, through) in targets(stub, server).items():
            if name == "openai":
                continue
            delays = []
            for _ in range(count):
                response = await session.post(through.url, json=through.body("hold"))
                await response.content.readany()  # the first text arrived
                left = time.monotonic()
                response.close()
                seen = await loop.run_in_executor(None, lost.get, True, 30)
                delays.append(seen - left)
            print(f"| {name} | {ms(percentile(delays, 50))} | {ms(max(delays))} |")


def machine() -> str:
    return machine_line(platform.machine(), f"aiohttp {aiohttp.__version__}")


async def start_server(
    stub_url: str, *extra: str, profile: str | None = None, valgrind: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    profiler = ("-m", "cProfile", "-o", profile) if profile else ()
    counter = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
    return await start_server_process(
        "--backend",
        "openai",
        "--upstream-url",
        f"{stub_url}/v1",
        *extra,
        prefix=counter if valgrind else (),
        python_options=profiler,
        wait=600 if valgrind else 60,
    )


async def profile(args: Any, stub: str) -> None:
    """(b) for the /v1 endpoints with the server under cProfile: where its CPU time goes."""
    import pstats

    process, server = await start_server(stub, profile=args.profile)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for name, (_, through) in targets(stub, server).items():
                if name != "acytoo":
                    await concurrent(session, through, args.requests, args.workers)
    finally:
        process.terminate()
        await process.wait()
    stats = pstats.Stats(args.profile)
    entries = stats.stats.items()  # type: ignore[attr-defined]
    total = sum(own for _, (_, _, own, _, _) in entries)
    requests = 4 * args.requests  # two endpoints, a warm-up round and a measured one each
    layers: dict[str, float] = {}
    for (path, _, function), (_, _, own, _, _) in entries:
        layer = profile_layer(path, function)
        layers[layer] = layers.get(layer, 0.0) + own
    print(f"Server CPU under cProfile: {total * 1e6 / requests:.0f} us per request (inflated)")
    print("| layer | own time per request | share |")
    print("|---|---:|---:|")
    for layer, own in sorted(layers.items(), key=lambda item: -item[1]):
        if own * 1e6 / requests < 0.05:
            continue  # code that did not run during the load (the CLI, the sync bridge)
        print(f"| {layer} | {own * 1e6 / requests:.1f} us | {own / total:.1%} |")
    print("\n| acytoo function | own time per request |")
    print("|---|---:|")
    ours = [(key, value[2]) for key, value in entries if "/acytoo/" in key[0]]
    for (path, line, function), own in sorted(ours, key=lambda item: -item[1])[:12]:
        where = path.split("/src/")[-1]
        print(f"| {function} ({where}:{line}) | {own * 1e6 / requests:.1f} us |")


def profile_layer(path: str, function: str) -> str:
    """Which layer a profiled function belongs to."""
    if "/acytoo/" in path:
        return "acytoo (" + path.split("/acytoo/")[-1].split("/")[0].removesuffix(".py") + ")"
    if "aiohttp/" in path:
        name = path.split("aiohttp/")[-1]
        if name.startswith(("web", "http_writer", "http_parser", "base_protocol")):
            return "aiohttp server side (and the HTTP writer/parser both use)"
        if name.startswith(("client", "connector", "tracing", "cookiejar", "streams")):
            return "aiohttp client side"
        return "aiohttp, other"
    if "asyncio/" in path:
        return "asyncio event loop"
    if "'_socket.socket'" in function or "epoll" in function:
        return "system calls (send, recv, epoll)"
    if path == "~":
        return "other built-ins (C)"
    return "other Python (stdlib, multidict, yarl, start-up)"


async def count_instructions(args: Any, stub: str) -> None:
    """Instructions the server executes per small request, counted by valgrind.

    Unlike time, the count does not move with the machine's load. Each endpoint
    runs in a fresh server twice, N and 2N requests one at a time; the
    difference divided by N leaves out start-up and shutdown.
    """
    print(f"Server instructions per request (valgrind, {args.instructions} requests)")
    print("| endpoint | instructions per request |")
    print("|---|---:|")
    for name in ("acytoo", "openai-stream", "openai"):
        counts = []
        for count in (args.instructions, 2 * args.instructions):
            process, server = await start_server(stub, valgrind=True)
            try:
                async with aiohttp.ClientSession() as session:
                    through = targets(stub, server)[name][1]
                    for _ in range(count):
                        await one_request(session, through)
            finally:
                process.terminate()
                assert process.stderr is not None
                tail = (await asyncio.wait_for(process.stderr.read(), 300)).decode()
                await process.wait()
            match = re.search(r"I\s+refs:\s+([\d,]+)", tail)
            if match is None:
                raise SystemExit(f"no instruction count from valgrind: {tail[-500:]}")
            counts.append(int(match[1].replace(",", "")))
        print(f"| {name} | {(counts[1] - counts[0]) / args.instructions / 1e6:.2f} M |")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (a supervisor and its workers)."""
    children = f"/proc/{pid}/task/{pid}/children"
    with open(children) as listing:
        pids = [pid, *(int(child) for child in listing.read().split())]
    return sum(cpu_seconds(one) for one in pids)


async def workers_comparison(stub: str, stub_pid: int, args: Any) -> None:
    """(g) Workload (b) on /api/completions through 1 and 2 workers, alternating rounds."""
    print(
        f"\n(g) {args.requests} requests at concurrency {args.workers} through "
        f"--workers 1 and --workers 2, {args.rounds} alternating rounds"
    )
    servers = {n: await start_server(stub, "--workers", str(n)) for n in (1, 2)}
    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(args.rounds):
                for count, (process, url) in servers.items():
                    target = targets(stub, url)["acytoo"][1]
                    before = (tree_cpu_seconds(process.pid), cpu_seconds(stub_pid))
                    start = time.perf_counter()
                    rate, _ = await concurrent(session, target, args.requests, args.workers)
                    wall = time.perf_counter() - start
                    rates[count].append(rate)
                    cpu[count].append(
                        (
                            (tree_cpu_seconds(process.pid) - before[0]) / wall,
                            (cpu_seconds(stub_pid) - before[1]) / wall,
                        )
                    )
    finally:
        for process, _ in servers.values():
            process.terminate()
            await process.wait()
    print("| workers | req/s (median) | range | server CPU | stub CPU |")
    print("|---:|---:|---:|---:|---:|")
    for count in (1, 2):
        ordered = sorted(rates[count])
        server_cpu = sorted(c[0] for c in cpu[count])[len(ordered) // 2]
        stub_cpu = sorted(c[1] for c in cpu[count])[len(ordered) // 2]
        print(
            f"| {count} | {ordered[len(ordered) // 2]:,.0f} | {ordered[0]:,.0f}-{ordered[-1]:,.0f} "
            f"| {server_cpu:.0%} | {stub_cpu:.0%} |"
        )
    ratios = sorted(two / one for one, two in zip(rates[1], rates[2], strict=True))
    print(
        f"\n2 workers / 1 worker: {ratios[len(ratios) // 2]:.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})"
    )


async def main_async(args: Any, stub_port: int, stub_pid: int, lost: Any) -> None:
    stub = f"http://127.0.0.1:{stub_port}"
    if args.instructions:
        await count_instructions(args, stub)
        return
    if args.profile:
        await profile(args, stub)
        return
    if args.workers_only:
        await workers_comparison(stub, stub_pid, args)
        return
    process, server = await start_server(stub)
    try:
        await run(stub, server, process.pid, stub_pid, args)
        if "f" in args.only:
            await disconnects(stub, server, lost, args.disconnects)
        if "g" in args.only:
            await workers_comparison(stub, stub_pid, args)
    finally:
        process.terminate()
        await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, to try it out")
    parser.add_argument("--profile", metavar="FILE", help="profile the server during (b) only")
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="N",
        help="count the server's instructions per request with valgrind (N and 2N requests)",
    )
    parser.add_argument(
        "--only", default="abcdfg", help="the workloads to run, e.g. 'bc' (default: all)"
    )
    parser.add_argument(
        "--endpoint",
        dest="endpoints",
        action="append",
        choices=["acytoo", "openai-stream", "openai"],
        help="run (a) and (b) only on this endpoint (repeatable)",
    )
    parser.add_argument(
        "--workers-only", action="store_true", help="only (g), the 1 vs 2 workers comparison"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    args.sequential = 500 // scale
    args.requests = 2000 // scale
    args.workers = 50
    args.rounds = 1 if args.quick else 5
    args.disconnects = 5 if args.quick else 20
    args.big_mib = 20 // (2 if args.quick else 1)
    args.runs = 3
    args.streams = 500 // scale
    os.environ.pop("OPENAI_API_KEY", None)
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    lost = context.Queue()
    stub = context.Process(target=run_stub, args=(args.big_mib, ports, lost), daemon=True)
    stub.start()
    try:
        port = ports.get(timeout=60)
        assert stub.pid is not None
        asyncio.run(main_async(args, port, stub.pid, lost))
    finally:
        stub.terminate()
        stub.join(10)


if __name__ == "__main__":
    main()
