"""The floor of the relay's added latency: a bare aiohttp relay against ``acytoo serve``.

Three targets, side by side, 500 sequential streamed ``/v1/chat/completions``
requests each per round (three rounds): the upstream directly (the stub of
``bench/server.py``), a bare aiohttp handler in its own process that relays
with the same lean client (read the body, ``OpenAICompatible.open_relay``,
answer with the upstream's bytes: no middleware, validation or metrics), and
``acytoo serve --backend openai``. The difference between the last two is what
acytoo's server adds on top of aiohttp and its transport.

Usage::

    .venv/bin/python bench/relay_floor.py [--requests 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from typing import Any

import aiohttp

from _common import free_port, machine_line, start_server_process
from server import MESSAGES, run_stub

# The bare relay, run as its own process (python -c) so it has a core's worth
# of the loop to itself, as the server does.
BARE_RELAY = r"""
import sys
from aiohttp import web
from acytoo import OpenAICompatible

upstream, port = sys.argv[1], int(sys.argv[2])

async def relay(request):
    raw = await request.read()
    async with OpenAICompatible.open_relay(
        "/chat/completions", raw, base_url=upstream + "/v1", api_key=""
    ) as answer:
        body = answer.first_chunk
        async for chunk in answer.iter_bytes():
            body += chunk
    return web.Response(body=body, content_type="text/event-stream")

app = web.Application()
app.router.add_post("/v1/chat/completions", relay)
print("ready", flush=True)
web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
"""


async def sequential_ms(session: aiohttp.ClientSession, url: str, requests: int) -> float:
    """The median milliseconds of ``requests`` streamed requests, one at a time."""
    body = {"model": "stub", "messages": MESSAGES, "stream": True}
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        async with session.post(url, json=body) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}")
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def wait_ready(url: str, tries: int = 100) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def main_async(stub: str, args: Any) -> None:
    port = free_port()
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BARE_RELAY, stub, str(port), stdout=asyncio.subprocess.PIPE
    )
    server, server_url = await start_server_process(
        "--backend", "openai", "--upstream-url", stub + "/v1"
    )
    bare_url = f"http://127.0.0.1:{port}"
    try:
        assert bare.stdout is not None
        await asyncio.wait_for(bare.stdout.readline(), 60)
        await wait_ready(bare_url)  # a GET is a 405, but it answers
        print(machine_line("unknown CPU", f"aiohttp {aiohttp.__version__}"))
        print()
        print("| round | direct p50 ms | bare aiohttp relay, added | acytoo serve, added |")
        print("|---:|---:|---:|---:|")
        async with aiohttp.ClientSession() as session:
            for round_number in range(1, args.rounds + 1):
                direct = await sequential_ms(session, stub + "/v1/chat/completions", args.requests)
                through_bare = await sequential_ms(
                    session, bare_url + "/v1/chat/completions", args.requests
                )
                through_server = await sequential_ms(
                    session, server_url + "/v1/chat/completions", args.requests
                )
                print(
                    f"| {round_number} | {direct:.3f} | {through_bare - direct:.3f} | "
                    f"{through_server - direct:.3f} |"
                )
    finally:
        for process in (bare, server):
            process.terminate()
            await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    lost: Any = multiprocessing.Queue()
    stub = multiprocessing.Process(target=run_stub, args=(1, ports, lost), daemon=True)
    stub.start()
    try:
        asyncio.run(main_async(f"http://127.0.0.1:{ports.get(timeout=30)}", args))
    finally:
        stub.terminate()
        stub.join(10)


if __name__ == "__main__":
    main()
