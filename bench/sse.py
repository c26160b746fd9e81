"""How fast the OpenAICompatible provider reads a long SSE stream.

One run, on loopback, against a local upstream in its own process that
serves a pre-built 20 MB ``text/event-stream`` of small
``chat.completion.chunk`` events (so the upstream costs almost nothing and
does not share the client's core). Each client reads the whole stream and
extracts every ``delta.content``:

- ``bytes only``: aiohttp reading the body without parsing (the ceiling);
- ``raw aiohttp``: ``async for line in resp.content`` + ``json.loads`` per
  data line (the baseline of the ratio);
- ``OpenAICompatible``: the provider, through the shared transport;
- ``openai SDK``: ``AsyncOpenAI`` streaming the same answer.

Every client must produce the same number of characters. Usage::

    .venv/bin/python bench/sse.py [--mb 20] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import openai
from aiohttp import web

import acytoo
from _common import machine_line, start_site

MESSAGES: list[acytoo.Message] = [{"role": "user", "content": "Tell me a long story."}]
WORDS = ("Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "stream ", "of ", "tokens. ")


def build_body(megabytes: float) -> tuple[bytes, int, int]:
    """The SSE body, its number of content events and of content characters."""
    target = int(megabytes * 1024 * 1024)
    parts: list[bytes] = []
    size = events = chars = 0
    while size < target:
        word = WORDS[events % len(WORDS)]
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
        }
        part = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        parts.append(part)
        size += len(part)
        events += 1
        chars += len(word)
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts), events, chars


def serve(megabytes: float, port_queue: Any) -> None:
    """The upstream process: answer every POST with the pre-built stream."""
    body, _, _ = build_body(megabytes)
    slices = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in slices:
            await response.write(piece)
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        _, port = await start_site(app)
        port_queue.put(port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def bytes_only(base_url: str, session: aiohttp.ClientSession) -> int:
    size = 0
    async with session.post(f"{base_url}/chat/completions", json={"stream": True}) as resp:
        async for chunk in resp.content.iter_any():
            size += len(chunk)
    return size


async def raw_aiohttp(base_url: str, session: aiohttp.ClientSession) -> int:
    chars = 0
    payload = {"model": "bench", "messages": MESSAGES, "stream": True}
    async with session.post(f"{base_url}/chat/completions", json=payload) as resp:
        async for line in resp.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].rstrip()
            if data == b"[DONE]":
                break
            content = json.loads(data)["choices"][0]["delta"].get("content")
            if content:
                chars += len(content)
    return chars


async def provider(base_url: str, session: aiohttp.ClientSession) -> int:
    chars = 0
    async for text in acytoo.OpenAICompatible.create_async_generator(
        "bench", MESSAGES, base_url=base_url, api_key="sk-bench", session=session
    ):
        chars += len(text)
    return chars


async def openai_sdk(base_url: str, session: aiohttp.ClientSession) -> int:
    chars = 0
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="bench",
            messages=[{"role": "user", "content": "Tell me a long story."}],
            stream=True,
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chars += len(chunk.choices[0].delta.content)
    return chars


Client = Callable[[str, aiohttp.ClientSession], Awaitable[int]]


async def timed(name: str, client: Client, base_url: str, expected: int) -> float:
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        got = await client(base_url, session)
        elapsed = time.perf_counter() - start
    if got != expected:
        raise SystemExit(f"{name} read {got}, expected {expected}")
    return elapsed


def machine() -> str:
    return machine_line(
        platform.processor() or platform.machine(),
        f"aiohttp {aiohttp.__version__}",
        f"openai {openai.__version__}",
    )


async def run(base_url: str, megabytes: float, runs: int) -> None:
    body, events, chars = build_body(megabytes)
    mib = len(body) / 1024 / 1024
    clients: list[tuple[str, Client, int, int]] = [
        ("bytes only (ceiling)", bytes_only, len(body), runs),
        ("raw aiohttp lines + json.loads", raw_aiohttp, chars, runs),
        ("acytoo.OpenAICompatible", provider, chars, runs),
        ("openai SDK (AsyncOpenAI)", openai_sdk, chars, max(1, runs // 3)),
    ]
    seconds: dict[str, list[float]] = {name: [] for name, *_ in clients}
    for name, client, expected, _ in clients:  # warm-up: imports, caches
        await timed(name, client, base_url, expected)
    # Round-robin, so a burst of load from elsewhere hits every client alike.
    for round_ in range(runs):
        for name, client, expected, count in clients:
            if round_ < count:
                seconds[name].append(await timed(name, client, base_url, expected))
    baseline = statistics.median(seconds[clients[1][0]])
    print(f"Machine: {machine()}")
    print(f"Stream: {mib:.1f} MiB, {events:,} content events; median of the runs\n")
    print("| client | runs | median s | MiB/s | events/s | vs raw aiohttp |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times in seconds.items():
        median = statistics.median(times)
        print(
            f"| {name} | {len(times)} | {median:.3f} | {mib / median:.1f} | "
            f"{events / median:,.0f} | {baseline / median:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0, help="stream size in MiB")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per client")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    upstream = context.Process(target=serve, args=(args.mb, ports), daemon=True)
    upstream.start()
    try:
        port = ports.get(timeout=60)
        asyncio.run(run(f"http://127.0.0.1:{port}/v1", args.mb, args.runs))
    finally:
        upstream.terminate()
        upstream.join(10)


if __name__ == "__main__":
    main()
