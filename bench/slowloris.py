"""Slow clients against `acytoo serve`: do normal requests stay fast, and do slow
connections get closed?

Three processes on loopback: the real server (``python -m acytoo.server``, the
offline assistant, default settings unless said), an attacker (its own
process and event loop) and this client (aiohttp, one request at a time,
latency to the last byte of a ``POST /api/completions`` answer).

The attacker opens connections that send a request line and one header, then
one more header line every 5 s, and never finish (slowloris); when the server
closes one, it opens another. Scenarios:

1. unloaded: the client alone (the baseline of the same run), then
2. loaded: 3,000 slow connections held open and the client again; five
   alternating rounds of 1 and 2, 300 requests each;
3. the header deadline: 1,000 slow connections that do not reconnect, timed
   until the server has closed them all (default limit: 20 s);
4. over the limit: ``--max-connections 500`` against 3,000 reconnecting slow
   connections; the client opens a new connection per request.

Usage::

    .venv/bin/python bench/slowloris.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from _common import (
    machine_line,
    percentile,
    proc_status_kib,
    start_server_process,
    table_head,
    table_row,
)

BODY = {"messages": [{"role": "user", "content": "How do I start the server?"}]}
HEAD = b"POST /api/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
TRICKLE = 5.0
OPEN_BATCH = 200
# An attacker re-opens a closed connection after this long (at most count/s connects).
RECONNECT_DELAY = 1.0


# ---------------------------------------------------------------- the attacker


@dataclass
class AttackStats:
    opened: int = 0
    closed_by_server: int = 0
    connect_errors: int = 0
    lifetimes: list[float] = field(default_factory=list)


async def slow_client(
    port: int, stats: AttackStats, stop: asyncio.Event, reconnect: bool, first: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats.connect_errors += 1
            await asyncio.sleep(0.2)
            continue
        opened = loop.time()
        stats.opened += 1
        first.set()
        writer.write(HEAD)
        by_server = False
        try:
            sent = 0
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(4096), TRICKLE)
                except asyncio.TimeoutError:
                    writer.write(b"X-Slow-%d: 1\r\n" % sent)
                    sent += 1
                    continue
                if not data:  # the server closed it (a 503 comes first, then the end)
                    by_server = True
                    break
        except ConnectionError:
            by_server = True
        finally:
            writer.close()
        if by_server:
            stats.closed_by_server += 1
            stats.lifetimes.append(loop.time() - opened)
        if not reconnect:
            return
        await asyncio.sleep(RECONNECT_DELAY)


def run_attacker(port: int, count: int, reconnect: bool, commands: Any, results: Any) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main() -> None:
        stats = AttackStats()
        stop = asyncio.Event()
        tasks = []
        for start in range(0, count, OPEN_BATCH):
            firsts = [asyncio.Event() for _ in range(min(OPEN_BATCH, count - start))]
            tasks += [
                asyncio.ensure_future(slow_client(port, stats, stop, reconnect, first))
                for first in firsts
            ]
            await asyncio.wait_for(asyncio.gather(*(first.wait() for first in firsts)), 120)
        results.put(("ready", stats.opened))
        loop = asyncio.get_running_loop()
        started = loop.time()
        if reconnect:
            await loop.run_in_executor(None, commands.get, True, 600)
        else:
            # Wait (bounded) until the server has closed every one of them.
            await asyncio.wait_for(asyncio.gather(*tasks), 300)
        stop.set()
        await asyncio.wait(tasks, timeout=30)
        results.put(
            (
                "done",
                {
                    "opened": stats.opened,
                    "closed_by_server": stats.closed_by_server,
                    "connect_errors": stats.connect_errors,
                    "lifetimes": stats.lifetimes,
                    "elapsed": loop.time() - started,
                },
            )
        )

    asyncio.run(main())


# ---------------------------------------------------------------- the client


async def requests(port: int, count: int, *, new_connections: bool) -> tuple[list[float], int]:
    """``count`` requests one at a time: their latencies (s) and how many failed."""
    connector = aiohttp.TCPConnector(force_close=new_connections)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"http://127.0.0.1:{port}/api/completions"
        for _ in range(count):
            started = time.perf_counter()
            try:
                async with session.post(url, json=BODY) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
    return latencies, errors


async def start_server(*options: str) -> tuple[asyncio.subprocess.Process, int]:
    process, url = await start_server_process(*options, log_level="error")
    return process, int(url.rsplit(":", 1)[1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def attack(port: int, count: int, reconnect: bool) -> tuple[Any, Any, Any]:
    context = multiprocessing.get_context("spawn")
    commands, results = context.Queue(), context.Queue()
    process = context.Process(
        target=run_attacker, args=(port, count, reconnect, commands, results), daemon=True
    )
    process.start()
    return process, commands, results


async def main_async(args: Any) -> None:
    loop = asyncio.get_running_loop()
    print(f"Machine: {machine_line(platform.machine(), f'aiohttp {aiohttp.__version__}')}")
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        f"Open-files limit of the server: {soft} (so --max-connections defaults to "
        f"{max(16, (soft - 64) // 2)})\n"
    )

    server, port = await start_server()
    try:
        await requests(port, 50, new_connections=False)  # warm-up
        # Alternating rounds: on a shared machine the noise between two unloaded
        # runs can be as large as the effect measured.
        print(
            table_head(
                "round",
                "unloaded p50 ms",
                "unloaded p99 ms",
                "slow connections",
                "loaded p50 ms",
                "loaded p99 ms",
                "errors",
                "p99 ratio",
                numeric=True,
            )
        )
        ratios = []
        closed = 0
        rss = 0.0
        for number in range(1, args.rounds + 1):
            unloaded, unloaded_errors = await requests(port, args.requests, new_connections=False)
            attacker, commands, results = attack(port, args.slow, reconnect=True)
            kind, opened = await loop.run_in_executor(None, results.get, True, 300)
            assert kind == "ready"
            rss = max(rss, proc_status_kib("VmRSS", server.pid) / 1024)
            loaded, loaded_errors = await requests(port, args.requests, new_connections=False)
            commands.put("stop")
            _, stats = await loop.run_in_executor(None, results.get, True, 300)
            attacker.join(30)
            closed += stats["closed_by_server"]
            ratio = percentile(loaded, 0.99) / percentile(unloaded, 0.99)
            ratios.append(ratio)
            print(
                table_row(
                    number,
                    ms(percentile(unloaded, 0.5)),
                    ms(percentile(unloaded, 0.99)),
                    f"{opened:,}",
                    ms(percentile(loaded, 0.5)),
                    ms(percentile(loaded, 0.99)),
                    unloaded_errors + loaded_errors,
                    f"{ratio:.2f}x",
                )
            )
        print(
            f"\nloaded/unloaded p99: median **{sorted(ratios)[len(ratios) // 2]:.2f}x** "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}x); server RSS with the slow "
            f"connections open: {rss:.1f} MiB; slow connections the server closed during "
            f"the loaded rounds (header deadline, then reopened): {closed:,}\n"
        )

        attacker, commands, results = attack(port, args.deadline, reconnect=False)
        kind, opened = await loop.run_in_executor(None, results.get, True, 300)
        _, stats = await loop.run_in_executor(None, results.get, True, 400)
        attacker.join(30)
        lifetimes = stats["lifetimes"]
        print(
            f"Header deadline: {stats['closed_by_server']:,} of {opened:,} slow connections "
            f"closed by the server; open for p50 {percentile(lifetimes, 0.5):.2f} s, max "
            f"**{max(lifetimes):.2f} s** (limit 20 s).\n"
        )
    finally:
        server.terminate()
        await server.wait()

    server, port = await start_server("--max-connections", str(args.limit))
    try:
        await requests(port, 50, new_connections=True)
        unloaded, unloaded_errors = await requests(port, args.requests, new_connections=True)
        attacker, commands, results = attack(port, args.slow, reconnect=True)
        kind, opened = await loop.run_in_executor(None, results.get, True, 300)
        loaded, loaded_errors = await requests(port, args.requests, new_connections=True)
        commands.put("stop")
        _, stats = await loop.run_in_executor(None, results.get, True, 300)
        attacker.join(30)
        print(
            f"Over the limit (--max-connections {args.limit}, {args.slow:,} reconnecting "
            "slow clients, a new connection per request):\n"
        )
        print(table_head("scenario", "requests ok", "errors", "p50 ms", "p99 ms", numeric=True))
        print(
            table_row(
                "unloaded",
                len(unloaded),
                unloaded_errors,
                ms(percentile(unloaded, 0.5)),
                ms(percentile(unloaded, 0.99)),
            )
        )
        print(
            table_row(
                "slow clients over the limit",
                len(loaded),
                loaded_errors,
                ms(percentile(loaded, 0.5)) if loaded else "-",
                ms(percentile(loaded, 0.99)) if loaded else "-",
            )
        )
        print(
            f"\nslow connections closed to make room or refused: "
            f"{stats['closed_by_server']:,} (attacker connections opened: {stats['opened']:,})"
        )
    finally:
        server.terminate()
        await server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, to try it out")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    args.requests = 300 // scale
    args.slow = 3000 // scale
    args.deadline = 1000 // scale
    args.limit = 500 // scale
    args.rounds = 1 if args.quick else 5
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
