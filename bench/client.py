#!/usr/bin/env python3
"""Client library benchmark: the Acytoo provider against raw aiohttp baselines.

Run ``python bench/client.py``; it prints a Markdown table (``--json`` for
machine-readable output). In one run it measures:

(a) a 20 MiB answer sent as 1 KiB HTTP chunks: MB/s of ``Acytoo`` vs raw
    aiohttp ``iter_any()`` on a persistent session;
(b) 500 sequential 100-byte answers: requests/s of ``Acytoo`` vs raw aiohttp
    on a persistent session, and vs a new session per request (what the
    original gpt4free provider does);
(c) 1,000 concurrent 64 KiB streams: errors, wall time and client peak
    memory per stream (``VmHWM``), each client variant in its own fresh
    process so that peaks do not mix.

The server is aiohttp.web in a separate process. Its handler writes the
answer as real 1 KiB HTTP chunks (``400\\r\\n<1 KiB>\\r\\n``), but many of
them per socket write (up to 256 KiB), so it is not the bottleneck: one
``await write()`` per KiB tops out far below what the client can read.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from _common import cpu_model, proc_status_kib, start_site
from acytoo import Acytoo, aclose_sessions
from acytoo._transport import DEFAULT_MAX_CONNECTIONS

KIB = 1024
BIG_SIZE = 20 * KIB * KIB  # (a) 20 MiB
SMALL_SIZE = 100  # (b)
STREAM_SIZE = 64 * KIB  # (c)
CHUNK = KIB
WRITE_SIZE = 256 * KIB
SEQUENTIAL_REQUESTS = 500
CONCURRENT_STREAMS = 1000
REPEATS = 9
CONCURRENT_RUNS = 5
PHASE_TIMEOUT = 300.0

MESSAGES = [{"role": "user", "content": "benchmark"}]
HEADERS = {"accept": "*/*", "content-type": "application/json"}
PAYLOAD = {
    "key": "",
    "model": "gpt-3.5-turbo",
    "messages": MESSAGES,
    "temperature": 0.5,
    "password": "",
}


# --- the server (its own process) ---------------------------------------------------------


def _framed_batches(size: int) -> list[bytes]:
    """``size`` bytes of ASCII text as 1 KiB HTTP chunks, grouped into socket writes."""
    line = b"The quick brown fox jumps over the lazy dog. 0123456789 "
    text = (line * (size // len(line) + 1))[:size]
    batches: list[bytes] = []
    current: list[bytes] = []
    current_size = 0
    for start in range(0, size, CHUNK):
        piece = text[start : start + CHUNK]
        framed = b"%x\r\n%s\r\n" % (len(piece), piece)
        current.append(framed)
        current_size += len(framed)
        if current_size >= WRITE_SIZE:
            batches.append(b"".join(current))
            current, current_size = [], 0
    if current:
        batches.append(b"".join(current))
    return batches


def serve() -> None:
    bodies = {
        "big": _framed_batches(BIG_SIZE),
        "small": _framed_batches(SMALL_SIZE),
        "stream": _framed_batches(STREAM_SIZE),
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        batches = bodies[request.match_info["kind"]]
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        writer = request.writer
        transport = request.transport
        assert transport is not None
        # The body is already framed as HTTP chunks: write it past aiohttp's
        # chunker, many chunks per write, then let write_eof() send "0\r\n\r\n".
        writer.send_headers()  # type: ignore[attr-defined]
        for batch in batches:
            transport.write(batch)
            await writer.drain()
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{kind}/api/completions", handle)
        runner, port = await start_site(app, backlog=2048)
        print(port, flush=True)
        # Serve until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


# --- the client variants -----------------------------------------------------------------

Reader = Callable[[str], Awaitable[tuple[int, int]]]


async def acytoo_read(base: str) -> tuple[int, int]:
    """Characters and chunks of one answer through ``Acytoo``."""
    size = chunks = 0
    async for text in Acytoo.create_async_generator("gpt-3.5-turbo", MESSAGES, url=base):
        size += len(text)
        chunks += 1
    return size, chunks


def raw_reader(session: aiohttp.ClientSession) -> Reader:
    async def read(base: str) -> tuple[int, int]:
        size = chunks = 0
        async with session.post(base + "/api/completions", json=PAYLOAD, headers=HEADERS) as r:
            r.raise_for_status()
            async for chunk in r.content.iter_any():
                size += len(chunk)
                chunks += 1
        return size, chunks

    return read


def raw_decoding_reader(session: aiohttp.ClientSession) -> Reader:
    """Raw ``iter_any()`` plus the incremental UTF-8 decode Acytoo must do to yield text."""

    async def read(base: str) -> tuple[int, int]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        size = chunks = 0
        async with session.post(base + "/api/completions", json=PAYLOAD, headers=HEADERS) as r:
            r.raise_for_status()
            async for chunk in r.content.iter_any():
                size += len(decoder.decode(chunk))
                chunks += 1
        return size + len(decoder.decode(b"", final=True)), chunks

    return read


async def new_session_read(base: str) -> tuple[int, int]:
    """The original gpt4free provider: a new ClientSession for every request."""
    size = chunks = 0
    async with (
        aiohttp.ClientSession(headers=HEADERS) as session,
        session.post(base + "/api/completions", json=PAYLOAD) as response,
    ):
        response.raise_for_status()
        async for stream in response.content.iter_any():
            if stream:
                size += len(stream.decode())
                chunks += 1
    return size, chunks


# --- measurements ------------------------------------------------------------------------


async def _timed(read: Reader, base: str, count: int, size: int) -> tuple[float, float]:
    """Wall and client-CPU seconds for ``count`` sequential answers of ``size``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        got, _chunks = await read(base)
        assert got == size, (got, size)
    return time.perf_counter() - wall, time.process_time() - cpu


async def _rounds(variants: dict[str, Reader], base: str, count: int, size: int) -> dict[str, Any]:
    """REPEATS rounds; each times every variant back to back, in a rotating order."""
    for read in variants.values():
        await read(base)  # warm-up: connections, imports, pooled session
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_index in range(REPEATS):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = await _timed(variants[name], base, count, size)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {"wall": walls, "cpu": cpus}


def _ratio(times: dict[str, list[float]], faster: str, slower: str) -> list[float]:
    """Per-round speed of ``faster`` relative to ``slower`` (time of slower / time of faster)."""
    return [s / f for f, s in zip(times[faster], times[slower], strict=True)]


def _summary(ratios: list[float]) -> dict[str, float]:
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


THROUGHPUT_VARIANTS = ("raw", "acytoo", "raw_decode")
ANSWERS_PER_PROCESS = 5


async def throughput_run(variant: str, port: int) -> dict[str, Any]:
    """One variant of (a) inside a fresh process: a warm-up, then timed answers."""
    base = f"http://127.0.0.1:{port}/big"
    async with aiohttp.ClientSession() as session:
        read = {
            "raw": raw_reader(session),
            "acytoo": acytoo_read,
            "raw_decode": raw_decoding_reader(session),
        }[variant]
        _size, chunks = await read(base)
        walls, cpus, faults = [], [], []
        for _ in range(ANSWERS_PER_PROCESS):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            wall, cpu = await _timed(read, base, 1, BIG_SIZE)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            walls.append(wall)
            cpus.append(cpu)
    if variant == "acytoo":
        await aclose_sessions()
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "page_faults": statistics.median(faults),
        "chunks": chunks,
    }


def bench_throughput(port: int) -> dict[str, Any]:
    """(a): each round runs every variant in its own fresh process, in a rotating order.

    Separate processes, because in one process the variants change each
    other's allocator state (which buffers malloc keeps mapped), and with it
    the page faults that dominate the differences.
    """
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in THROUGHPUT_VARIANTS}
    names = list(THROUGHPUT_VARIANTS)
    for round_index in range(REPEATS):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_subprocess_json("--throughput", name, port))
    wall = {name: [r["wall"] for r in results] for name, results in runs.items()}
    cpu = {name: [r["cpu"] for r in results] for name, results in runs.items()}
    summary: dict[str, Any] = {
        "ratio": _summary(_ratio(wall, "acytoo", "raw")),
        "cpu_ratio": _summary(_ratio(cpu, "acytoo", "raw")),
        "ratio_decode": _summary(_ratio(wall, "acytoo", "raw_decode")),
        "cpu_ratio_decode": _summary(_ratio(cpu, "acytoo", "raw_decode")),
    }
    for name, results in runs.items():
        summary[f"{name}_mb_s"] = BIG_SIZE / statistics.median(wall[name]) / 1e6
        summary[f"{name}_best_mb_s"] = BIG_SIZE / min(wall[name]) / 1e6
        summary[f"{name}_cpu_ms"] = statistics.median(cpu[name]) * 1e3
        summary[f"{name}_chunks"] = results[0]["chunks"]
        summary[f"{name}_page_faults"] = statistics.median(r["page_faults"] for r in results)
    return summary


def _subprocess_json(*args: object) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, __file__, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PHASE_TIMEOUT,
        check=True,
    )
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


async def bench_sequential(port: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}/small"
    async with aiohttp.ClientSession() as session:
        variants = {
            "raw": raw_reader(session),
            "acytoo": acytoo_read,
            "new_session": new_session_read,
        }
        times = await _rounds(variants, base, SEQUENTIAL_REQUESTS, SMALL_SIZE)
    wall, cpu = times["wall"], times["cpu"]
    return {
        **{
            f"{name}_req_s": SEQUENTIAL_REQUESTS / statistics.median(wall[name])
            for name in variants
        },
        **{
            f"{name}_cpu_us": statistics.median(cpu[name]) / SEQUENTIAL_REQUESTS * 1e6
            for name in variants
        },
        "ratio_raw": _summary(_ratio(wall, "acytoo", "raw")),
        "cpu_ratio_raw": _summary(_ratio(cpu, "acytoo", "raw")),
        "ratio_new_session": _summary(_ratio(wall, "acytoo", "new_session")),
        "cpu_ratio_new_session": _summary(_ratio(cpu, "acytoo", "new_session")),
    }


async def concurrent_run(variant: str, port: int) -> dict[str, Any]:
    """One variant of (c) inside a fresh process: streams, errors, wall time, peak memory."""
    base = f"http://127.0.0.1:{port}/stream"
    # Both variants have imported acytoo and aiohttp before the baseline is taken.
    # The same connection limit for both: acytoo's pool holds up to 1,000 (the
    # openai SDK's limit), aiohttp's default is 100, which would queue 900 streams.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=DEFAULT_MAX_CONNECTIONS))
    read = raw_reader(session) if variant == "raw" else acytoo_read
    await read(base)  # warm-up: imports, first connection, pooled session
    gc.collect()
    baseline = proc_status_kib("VmRSS")
    start = time.perf_counter()
    results = await asyncio.gather(
        *(read(base) for _ in range(CONCURRENT_STREAMS)), return_exceptions=True
    )
    wall = time.perf_counter() - start
    peak = proc_status_kib("VmHWM")
    errors = [r for r in results if isinstance(r, BaseException)]
    short = [r for r in results if not isinstance(r, BaseException) and r[0] != STREAM_SIZE]
    await session.close()
    if variant != "raw":
        await aclose_sessions()
    return {
        "variant": variant,
        "errors": len(errors) + len(short),
        "first_error": repr(errors[0]) if errors else None,
        "wall_s": wall,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "per_stream_kib": (peak - baseline) / CONCURRENT_STREAMS,
    }


def bench_concurrent(port: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "acytoo": []}
    for _ in range(CONCURRENT_RUNS):
        for variant in runs:
            runs[variant].append(_subprocess_json("--concurrent", variant, port))
    summary: dict[str, Any] = {}
    for variant, results in runs.items():
        summary[variant] = {
            "errors": sum(r["errors"] for r in results),
            "first_error": next((r["first_error"] for r in results if r["first_error"]), None),
            "wall_s": statistics.median(r["wall_s"] for r in results),
            "per_stream_kib": statistics.median(r["per_stream_kib"] for r in results),
            "peak_kib": statistics.median(r["peak_kib"] for r in results),
        }
    summary["extra_kib_per_stream"] = (
        summary["acytoo"]["per_stream_kib"] - summary["raw"]["per_stream_kib"]
    )
    return summary


# --- report ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    return {
        "cpu": cpu_model("unknown CPU"),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "system": f"{platform.system()} {platform.machine()}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _met(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**missed**"


def _range(summary: dict[str, float]) -> str:
    return f"{summary['median']:.2f}x ({summary['min']:.2f}-{summary['max']:.2f})"


def table(results: dict[str, Any]) -> str:
    a, b, c = results["throughput"], results["sequential"], results["concurrent"]
    m = results["machine"]
    raw_c, acytoo_c = c["raw"], c["acytoo"]
    rows = [
        "| Measure | Acytoo | Baseline | Ratio (range) | Target | Result |",
        "|---|---|---|---|---|---|",
        f"| (a) 20 MiB in 1 KiB HTTP chunks, MB/s | {a['acytoo_mb_s']:.0f} "
        f"| {a['raw_mb_s']:.0f} (raw `iter_any()`, persistent session) | {_range(a['ratio'])} "
        f"| >= 0.95x | {_met(a['ratio']['median'], 0.95)} |",
        f"| (a) same, client CPU ms per answer | {a['acytoo_cpu_ms']:.1f} "
        f"| {a['raw_cpu_ms']:.1f} | {_range(a['cpu_ratio'])} "
        f"| >= 0.95x | {_met(a['cpu_ratio']['median'], 0.95)} |",
        f"| (a) reference: raw `iter_any()` + incremental UTF-8 decode, MB/s "
        f"| {a['acytoo_mb_s']:.0f} | {a['raw_decode_mb_s']:.0f} | {_range(a['ratio_decode'])} "
        f"| (reported) | |",
        f"| (a) reference: same, client CPU ms per answer | {a['acytoo_cpu_ms']:.1f} "
        f"| {a['raw_decode_cpu_ms']:.1f} | {_range(a['cpu_ratio_decode'])} | (reported) | |",
        f"| (b) {SEQUENTIAL_REQUESTS} sequential 100-byte answers, req/s "
        f"| {b['acytoo_req_s']:.0f} | {b['raw_req_s']:.0f} (raw, persistent session) "
        f"| {_range(b['ratio_raw'])} | >= 0.9x | {_met(b['ratio_raw']['median'], 0.9)} |",
        f"| (b) same, client CPU us per request | {b['acytoo_cpu_us']:.0f} "
        f"| {b['raw_cpu_us']:.0f} | {_range(b['cpu_ratio_raw'])} "
        f"| >= 0.9x | {_met(b['cpu_ratio_raw']['median'], 0.9)} |",
        f"| (b) req/s vs a new session per request (gpt4free style) "
        f"| {b['acytoo_req_s']:.0f} | {b['new_session_req_s']:.0f} "
        f"| {_range(b['ratio_new_session'])} | >= 1.5x "
        f"| {_met(b['ratio_new_session']['median'], 1.5)} |",
        f"| (b) same, client CPU us per request | {b['acytoo_cpu_us']:.0f} "
        f"| {b['new_session_cpu_us']:.0f} | {_range(b['cpu_ratio_new_session'])} "
        f"| >= 1.5x | {_met(b['cpu_ratio_new_session']['median'], 1.5)} |",
        f"| (c) {CONCURRENT_STREAMS} concurrent 64 KiB streams: errors (all runs) "
        f"| {acytoo_c['errors']} | {raw_c['errors']} | | 0 "
        f"| {_met(acytoo_c['errors'], 0, False)} |",
        f"| (c) wall time, s | {acytoo_c['wall_s']:.2f} | {raw_c['wall_s']:.2f} "
        f"| {acytoo_c['wall_s'] / raw_c['wall_s']:.2f}x | (reported) | |",
        f"| (c) client peak memory per stream, KiB (VmHWM) "
        f"| {acytoo_c['per_stream_kib']:.1f} | {raw_c['per_stream_kib']:.1f} "
        f"| {c['extra_kib_per_stream']:+.1f} KiB | <= +5 KiB "
        f"| {_met(c['extra_kib_per_stream'], 5.0, False)} |",
        f"| (c) client peak RSS, MiB | {acytoo_c['peak_kib'] / 1024:.1f} "
        f"| {raw_c['peak_kib'] / 1024:.1f} | | (reported) | |",
    ]
    notes = [
        "",
        f"Ratios are Acytoo's speed relative to the baseline: the median over {REPEATS} "
        "rounds, each round timing every variant back to back in a rotating order, with the "
        "range of the per-round ratios in brackets; absolute figures are medians. Wall-clock "
        "figures include the server, which shares the 2 cores; client CPU time "
        "(`time.process_time()`) shows the library's own cost with less noise. (a) runs every "
        f"variant in a fresh process per round ({ANSWERS_PER_PROCESS} answers, median); (c) runs "
        f"each variant {CONCURRENT_RUNS} times in a fresh process; figures are medians.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['system']}; Python {m['python']}, "
        f"aiohttp {m['aiohttp']}; {m['date']}.",
        "",
        f"Chunking observed by the client in (a): the server sends {BIG_SIZE // CHUNK} HTTP "
        f"chunks of 1 KiB, {WRITE_SIZE // KIB} KiB per socket write; aiohttp's parser hands "
        f"over whatever has arrived, so raw `iter_any()` saw {a['raw_chunks']} reads "
        f"(~{BIG_SIZE / a['raw_chunks'] / KIB:.0f} KiB each) and Acytoo, which reads at most "
        f"64 KiB at a time, yielded {a['acytoo_chunks']} text chunks. Page faults per answer "
        f"(median): raw {a['raw_page_faults']:.0f}, raw + decode "
        f"{a['raw_decode_page_faults']:.0f}, Acytoo {a['acytoo_page_faults']:.0f}. Best runs: "
        f"Acytoo {a['acytoo_best_mb_s']:.0f} MB/s, raw {a['raw_best_mb_s']:.0f} MB/s.",
    ]
    return "\n".join(rows + notes)


async def run_in_process(port: int) -> dict[str, Any]:
    sequential = await asyncio.wait_for(bench_sequential(port), PHASE_TIMEOUT)
    return {"sequential": sequential}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--concurrent", nargs=2, metavar=("VARIANT", "PORT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--throughput", nargs=2, metavar=("VARIANT", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.concurrent:
        variant, port = args.concurrent
        print(json.dumps(asyncio.run(concurrent_run(variant, int(port)))))
        return
    if args.throughput:
        variant, port = args.throughput
        print(json.dumps(asyncio.run(throughput_run(variant, int(port)))))
        return
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    os.environ.clear()
    os.environ.update(env)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results = asyncio.run(run_in_process(port))
        results["throughput"] = bench_throughput(port)
        results["concurrent"] = bench_concurrent(port)
        results["machine"] = machine()
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(30)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
