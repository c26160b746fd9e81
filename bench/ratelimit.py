"""What the rate limiter costs, in memory and in Redis, and how exact a shared limit is.

(a) The in-memory limiter with many distinct clients: microseconds per
    decision with 1,000 and 100,000 clients, and past its cap (200,000 clients
    through a 100,000-key LRU, so every decision also evicts), and the memory
    100,000 clients hold. The limiter it replaced pruned its whole table on
    every allowed request above 10,000 clients (5.6 ms per request at 22,000).
(b) The cost of a decision in Redis on loopback: p50/p99 of one
    ``RedisState.acquire`` in-process, and end to end through the real server
    (``python -m acytoo.server``, GET /v1/models one at a time) with no limit,
    a limit in memory and a limit in Redis.
(c) The accuracy of one limit shared by two server processes through one
    Redis: one client sends 10x the limit for 10 s, alternating between them;
    accepted must be within 10 % of what the limit allows (rate x 10 s + burst).

Usage::

    .venv/bin/python bench/ratelimit.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import tracemalloc

import aiohttp

from _common import free_port, machine_line, percentile, start_server_process
from acytoo.server.ratelimit import RateLimit, RateLimiter
from acytoo.server.redis_state import RedisState

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
LOOSE = RateLimit(rate=1e9, burst=1_000_000_000)  # never refuses: measures the cost only


class PruningLimiter:
    """The limiter this one replaced (kept here as the baseline): token buckets in a dict
    that is rebuilt, dropping idle clients, on every allowed request past 10,000 clients."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, client: str) -> float:
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * self.limit.rate)
        if tokens >= 1.0:
            self.buckets[client] = (tokens - 1.0, now)
            if len(self.buckets) > 10_000:
                refill = self.limit.burst / self.limit.rate
                self.buckets = {c: (t, s) for c, (t, s) in self.buckets.items() if now - s < refill}
            return 0.0
        self.buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.limit.rate


def pruning_limiter(clients: int, decisions: int) -> float:
    """Microseconds per decision of the old limiter (a 1/min limit: nobody is idle long enough).

    Its table is filled directly (filling it through ``acquire`` takes minutes).
    """
    limiter = PruningLimiter(RateLimit(rate=1 / 60, burst=10))
    now = time.monotonic()
    keys = [f"ip:10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(clients)]
    limiter.buckets = {key: (9.0, now) for key in keys}
    start = time.perf_counter()
    for key in keys[:decisions]:
        limiter.acquire(key)
    return (time.perf_counter() - start) / decisions * 1e6


def memory_limiter(clients: int, max_keys: int, rounds: int) -> float:
    """Microseconds per decision, ``clients`` distinct keys cycling."""
    limiter = RateLimiter(max_keys=max_keys)
    keys = [f"ip:10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(clients)]
    for key in keys:
        limiter.acquire(key, LOOSE)
    start = time.perf_counter()
    for _ in range(rounds):
        for key in keys:
            limiter.acquire(key, LOOSE)
    return (time.perf_counter() - start) / (rounds * clients) * 1e6


def memory_of(clients: int) -> float:
    """MiB held by ``clients`` keys in the limiter (tracemalloc)."""
    tracemalloc.start()
    limiter = RateLimiter(max_keys=clients)
    before = tracemalloc.get_traced_memory()[0]
    for i in range(clients):
        limiter.acquire(f"ip:10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", LOOSE)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / 1024 / 1024


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    persistence_off = ["--save", "", "--appendonly", "no", "--dir", directory]
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", *persistence_off],
        stdout=subprocess.DEVNULL,
    )
    return process, f"redis://127.0.0.1:{port}/0"


async def redis_decisions(url: str, count: int) -> list[float]:
    state = RedisState(url, required=True)
    try:
        for _ in range(200):  # wait for Redis to answer
            if await state.ready():
                break
            await asyncio.sleep(0.05)
        await state.acquire("bench:warm", LOOSE)  # loads the script
        timings = []
        for i in range(count):
            start = time.perf_counter()
            await state.acquire(f"rate:ip:10.0.{i >> 8 & 255}.{i & 255}", LOOSE)
            timings.append(time.perf_counter() - start)
        return timings
    finally:
        await state.aclose()


async def start_server(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    return await start_server_process(*args)


async def sequential(http: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    for _ in range(50):
        async with http.get(f"{url}/v1/models") as response:
            await response.read()
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        async with http.get(f"{url}/v1/models") as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
        timings.append(time.perf_counter() - start)
    return timings


async def end_to_end(redis_url: str, count: int, rounds: int) -> dict[str, list[float]]:
    variants = {
        "no limit": (),
        "limit in memory": ("--rate-limit", "1000000/s"),
        "limit in Redis": ("--rate-limit", "1000000/s", "--redis-url", redis_url),
    }
    servers = {name: await start_server(*args) for name, args in variants.items()}
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(rounds):  # interleaved: the machine is shared and noisy
                for name, (_, url) in servers.items():
                    results[name] += await sequential(http, url, count)
    finally:
        for process, _ in servers.values():
            process.terminate()
            await process.wait()
    return results


async def accuracy(redis_url: str, rate: float, burst: int, seconds: float) -> tuple[int, int, int]:
    """(offered, accepted, allowed by the limit) for two servers sharing one limit."""
    limit = f"{rate:g}/s,burst={burst}"
    servers = [
        await start_server("--rate-limit", limit, "--redis-url", redis_url) for _ in range(2)
    ]
    offered = accepted = 0
    statuses: dict[int, int] = {}
    try:
        async with aiohttp.ClientSession() as http:
            for _, url in servers:  # connect first, outside the measured window
                async with http.get(f"{url}/healthz") as response:
                    await response.read()
            interval = 1 / (10 * rate)
            tasks = []

            async def one(url: str) -> None:
                async with http.get(f"{url}/v1/models") as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

            start = time.perf_counter()
            # Open loop: requests go out on schedule whether or not earlier ones returned.
            while (now := time.perf_counter() - start) < seconds:
                due = offered * interval
                if now < due:
                    await asyncio.sleep(due - now)
                tasks.append(asyncio.ensure_future(one(servers[offered % 2][1])))
                offered += 1
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - start
    finally:
        for process, _ in servers:
            process.terminate()
            await process.wait()
    accepted = statuses.get(200, 0)
    unexpected = set(statuses) - {200, 429}
    if unexpected:
        raise RuntimeError(f"unexpected statuses {statuses}")
    return offered, accepted, round(rate * min(elapsed, seconds) + burst)


def ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.3f}"


async def main_async(args: argparse.Namespace) -> None:
    print(f"Machine: {machine_line('x86_64', f'aiohttp {aiohttp.__version__}')}\n")
    print("(a) in-memory limiter, us per decision")
    print("| limiter | clients | cap | us per decision |")
    print("|---|---:|---:|---:|")
    old = pruning_limiter(22_000, 200)
    print(f"| before (dict rebuilt per request) | 22,000 | none | {old:,.0f} |")
    for clients, cap in ((1_000, 100_000), (22_000, 100_000), (100_000, 100_000)):
        rounds = max(1, args.decisions // clients)
        us = memory_limiter(clients, cap, rounds)
        print(f"| GCRA + LRU | {clients:,} | {cap:,} | {us:.2f} |")
    us = memory_limiter(200_000, 100_000, max(1, args.decisions // 200_000))
    print(f"| GCRA + LRU, evicting on every decision | 200,000 | 100,000 | {us:.2f} |")
    print(f"\nMemory held by 100,000 clients: {memory_of(100_000):.1f} MiB (tracemalloc)")

    directory = tempfile.mkdtemp(prefix="acytoo-bench-redis-")
    redis, url = start_redis(directory)
    try:
        direct = await redis_decisions(url, args.redis_decisions)
        print(f"\n(b) one decision in Redis on loopback ({len(direct)} decisions), ms")
        print(f"| p50 | p99 |\n|---:|---:|\n| {ms(direct, 0.5)} | {ms(direct, 0.99)} |")
        results = await end_to_end(url, args.requests, args.rounds)
        base = results["no limit"]
        print(
            f"\n(b) through the server, GET /v1/models one at a time "
            f"({args.rounds} interleaved rounds of {args.requests}), ms"
        )
        print("| variant | p50 | p99 | added p50 | added p99 |")
        print("|---|---:|---:|---:|---:|")
        for name, timings in results.items():
            added50 = percentile(timings, 0.5) - percentile(base, 0.5)
            added99 = percentile(timings, 0.99) - percentile(base, 0.99)
            print(
                f"| {name} | {ms(timings, 0.5)} | {ms(timings, 0.99)} | "
                f"{added50 * 1000:+.3f} | {added99 * 1000:+.3f} |"
            )
        offered, accepted, allowed = await accuracy(url, args.rate, args.burst, args.seconds)
        error = (accepted - allowed) / allowed
        print(
            f"\n(c) two servers, one Redis, one client at 10x {args.rate:g}/s "
            f"(burst {args.burst}) for {args.seconds:g} s"
        )
        print("| offered | accepted | the limit allows | error |")
        print("|---:|---:|---:|---:|")
        print(f"| {offered:,} | {accepted:,} | {allowed:,} | {error:+.1%} |")
    finally:
        redis.terminate()
        redis.wait(30)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, to try it out")
    args = parser.parse_args()
    args.decisions = 200_000 if args.quick else 1_000_000
    args.redis_decisions = 2_000 if args.quick else 10_000
    args.requests = 200 if args.quick else 1_000
    args.rounds = 1 if args.quick else 3
    args.rate, args.burst = 20.0, 20
    args.seconds = 3.0 if args.quick else 10.0
    os.environ.pop("OPENAI_API_KEY", None)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
