"""The chat page in headless chromium: weight, load, latency to the first character,
and the cost of rendering a long streamed answer.

One process: an OpenAI-compatible upstream (aiohttp) and the real server
(``acytoo.server.serve``, backend ``openai``) share a background event loop;
Debian's chromium is driven by Playwright's sync API. Measures:

1. page weight and requests of a cold load (resource timing);
2. load to interactive: navigation start to the page's ``data-ready`` mark
   (its script has wired every control), and DOMContentLoaded; cold loads;
3. Enter to the first character on screen with an immediate upstream: the
   Enter ``keydown`` to the first animation frame after the answer's first
   text is in the DOM (a MutationObserver notes it);
4. the answer's first byte at the network (the completion fetch's
   ``responseStart``) to that same frame, p50/p99 over the runs of 3;
5. a 50 KB answer (the project's own docs, so Markdown with lists, tables and
   code) streamed at 1,000 small events per second: the longest main-thread
   task (PerformanceObserver ``longtask``, which reports tasks over 50 ms), the
   longest gap between animation frames, and the server's total render CPU
   time (``Server-Timing`` of every ``/api/render``, the render's own thread
   CPU time) against rendering the final answer once; twice, because the
   first long answer of a fresh server also pays one-time imports.

Usage::

    .venv/bin/python bench/web.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.sync_api import Browser, Page, sync_playwright

from _common import machine_line, percentile

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVENTS_PER_SECOND = 1000
LONG_ANSWER_CHARS = 50_000
EVENT_CHARS = 5

# Installed before the page's own scripts (through the DevTools protocol, so
# the page's CSP does not apply): marks the moments the measures need.
PROBE = """
performance.setResourceTimingBufferSize(100000);
window.__bench = {longest: 0, longtasks: [], frameGap: 0};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.longtasks.push(e.duration);
}).observe({type: "longtask", buffered: true});
addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { window.__bench.enter = performance.now(); window.__bench.first = null; window.__bench.firstFrame = null; }
}, true);
new MutationObserver(() => {
  const b = window.__bench;
  if (b.first != null || b.enter == null) return;
  const bodies = document.querySelectorAll("article.assistant .body");
  const last = bodies[bodies.length - 1];
  if (last && last.textContent.length > 0 && last.closest("article").hasAttribute("aria-busy")) {
    b.first = performance.now();
    requestAnimationFrame(() => { b.firstFrame = performance.now(); });
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
new MutationObserver(() => {
  if (document.documentElement.dataset.ready) window.__bench.ready = performance.now();
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});
"""


def long_answer() -> str:
    text = (ROOT / "README.md").read_text() + "\n\n"
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "benchmarks.md":
            text += page.read_text() + "\n\n"
    return text[:LONG_ANSWER_CHARS]


def event(content: str) -> bytes:
    chunk = {
        "id": "b",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class Upstream:
    """``/v1/chat/completions``: "Hello!" at once, or the long answer at a steady event rate."""

    def __init__(self) -> None:
        self.mode = "immediate"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.mode == "immediate":
            await response.write(event("Hello!") + b"data: [DONE]\n\n")
        else:
            async for piece in paced(long_answer(), EVENT_CHARS, EVENTS_PER_SECOND):
                await response.write(piece)
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model"}]})


async def paced(text: str, size: int, rate: int) -> AsyncIterator[bytes]:
    """``text`` in events of ``size`` characters, ``rate`` per second on average.

    Events that fall due together (the loop sleeps ~1 ms at best) go out in
    one write, as a real upstream's would from one network read.
    """
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    start = time.perf_counter()
    sent = 0
    while sent < len(pieces):
        due = min(len(pieces), int((time.perf_counter() - start) * rate) + 1)
        if due > sent:
            yield b"".join(event(p) for p in pieces[sent:due])
            sent = due
        await asyncio.sleep(0.001)


class Servers:
    """The upstream and the acytoo server on one background loop."""

    def __init__(self) -> None:
        self.upstream = Upstream()
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._stop = asyncio.Event()
        self._ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        from acytoo import aclose_sessions
        from acytoo.server import ServerConfig, build_backend, serve

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.upstream.chat)
        app.router.add_get("/v1/models", self.upstream.models)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        backend = build_backend("openai", [f"http://127.0.0.1:{port}/v1"], max_retries=0)
        config = ServerConfig(port=0, access_log=False, grace_period=1.0)
        try:
            async with serve(config, backend) as server:
                self._ready.set_result(server.url)
                await self._stop.wait()
        finally:
            await aclose_sessions()
            await runner.cleanup()

    def __enter__(self) -> Servers:
        self._thread.start()
        self.url = self._ready.result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.loop.close()


def fresh_page(browser: Browser, url: str) -> Page:
    context = browser.new_context()
    context.add_init_script(PROBE)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url + "/")
    page.wait_for_selector("html[data-ready]", state="attached")
    return page


def weight_and_load(browser: Browser, url: str, runs: int) -> dict[str, Any]:
    ready, dcl = [], []
    weight: dict[str, Any] = {}
    for index in range(runs):
        page = fresh_page(browser, url)
        page.wait_for_load_state("networkidle")
        timing = page.evaluate(
            """() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const res = performance.getEntriesByType("resource");
            const all = [nav, ...res];
            const files = all.filter(e => !e.name.includes("/v1/") && !e.name.includes("/api/"));
            return {ready: window.__bench.ready, dcl: nav.domContentLoadedEventEnd,
                    files: files.length, api: all.length - files.length,
                    encoded: files.reduce((s, e) => s + e.encodedBodySize, 0),
                    decoded: files.reduce((s, e) => s + e.decodedBodySize, 0),
                    names: files.map(e => e.name.replace(location.origin, ""))};
            }"""
        )
        ready.append(timing["ready"])
        dcl.append(timing["dcl"])
        if index == 0:
            weight = timing
        page.context.close()
    return {"weight": weight, "ready_ms": ready, "dcl_ms": dcl}


def first_character(browser: Browser, servers: Servers, runs: int) -> dict[str, list[float]]:
    servers.upstream.mode = "immediate"
    page = fresh_page(browser, servers.url)
    enter, network = [], []
    for index in range(runs + 2):  # two warm-up runs
        page.locator("#new-chat").click()
        page.locator("#input").fill(f"Question {index}")
        page.locator("#input").press("Enter")
        page.wait_for_function("() => window.__bench.firstFrame != null")
        page.wait_for_function(
            "() => !document.querySelector('article[aria-busy]') && document.getElementById('stop').hidden"
        )
        marks = page.evaluate(
            """() => {
            const b = window.__bench;
            const fetches = performance.getEntriesByType("resource")
                .filter(e => e.name.endsWith("/api/completions"));
            const last = fetches[fetches.length - 1];
            return {enter: b.firstFrame - b.enter, network: b.firstFrame - last.responseStart};
            }"""
        )
        if index >= 2:
            enter.append(marks["enter"])
            network.append(marks["network"])
    page.context.close()
    return {"enter_ms": enter, "network_ms": network}


def long_stream(browser: Browser, servers: Servers) -> dict[str, Any]:
    servers.upstream.mode = "long"
    page = fresh_page(browser, servers.url)
    page.evaluate(
        """() => {
        const b = window.__bench;
        let last = performance.now();
        const tick = (now) => { b.frameGap = Math.max(b.frameGap, now - last); last = now;
                                if (!b.stopFrames) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
        b.longtasks = [];
        }"""
    )
    started = time.perf_counter()
    page.locator("#input").fill("The whole documentation, please.")
    page.locator("#input").press("Enter")
    page.wait_for_function("() => window.__bench.firstFrame != null")
    page.wait_for_function(
        "() => !document.querySelector('article[aria-busy]') && document.getElementById('stop').hidden",
        timeout=300_000,
    )
    seconds = time.perf_counter() - started
    result: dict[str, Any] = page.evaluate(_long_stream_script())
    result["seconds"] = seconds
    page.context.close()
    return result


def _long_stream_script() -> str:
    answer = json.dumps(long_answer())
    return """async () => {
        const b = window.__bench;
        b.stopFrames = true;
        const renders = performance.getEntriesByType("resource")
            .filter(e => e.name.endsWith("/api/render"));
        const cost = (e) => (e.serverTiming.find(t => t.name === "render") || {duration: 0}).duration;
        const once = [];
        for (let i = 0; i < 5; i++) {
          const r = await fetch("/api/render", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({text: ANSWER, partial: false})});
          once.push(parseFloat(r.headers.get("Server-Timing").split("dur=")[1]));
        }
        once.sort((x, y) => x - y);
        return {renders: renders.length, total: renders.reduce((s, e) => s + cost(e), 0),
                once: once[2], longtasks: b.longtasks, frameGap: b.frameGap};
        }""".replace("ANSWER", answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the raw figures")
    args = parser.parse_args()
    with Servers() as servers, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            load = weight_and_load(browser, servers.url, 10)
            first = first_character(browser, servers, args.runs)
            # The first long answer pays one-time imports (markdown-it's rules,
            # each Pygments lexer the answer's code blocks name); the second
            # is what every later answer costs.
            cold = long_stream(browser, servers)
            stream = long_stream(browser, servers)
        finally:
            browser.close()
    if args.json:
        print(json.dumps({"load": load, "first": first, "cold": cold, "stream": stream}, indent=2))
    weight = load["weight"]
    print(machine_line("unknown CPU", f"Chromium {version} (headless)"))
    with open("/proc/loadavg") as loadavg:
        print(f"load average at the end: {loadavg.read().split()[:3]}")
    print()
    print(
        f"- page: {weight['files']} requests for its files ({', '.join(weight['names'])}), "
        f"{weight['decoded'] / 1024:.1f} KiB uncompressed, {weight['encoded'] / 1024:.1f} KiB "
        f"on the wire (gzip); plus {weight['api']} API call(s) (/v1/models)"
    )
    print(
        f"- load to interactive (data-ready), cold, p50 {statistics.median(load['ready_ms']):.1f} ms"
        f" (max {max(load['ready_ms']):.1f}); DOMContentLoaded p50 "
        f"{statistics.median(load['dcl_ms']):.1f} ms"
    )
    enter, network = first["enter_ms"], first["network_ms"]
    print(
        f"- Enter -> first character on screen ({len(enter)} runs): p50 "
        f"{statistics.median(enter):.1f} ms, p99 {percentile(enter, 0.99):.1f} ms (target <= 30 ms p50)"
    )
    print(
        f"- first byte at the network -> first character on screen: p50 "
        f"{statistics.median(network):.1f} ms, p99 {percentile(network, 0.99):.1f} ms"
    )
    tasks = stream["longtasks"]
    longest = f"{max(tasks):.0f} ms ({len(tasks)} tasks over 50 ms)" if tasks else "none over 50 ms"
    print(
        f"- {LONG_ANSWER_CHARS // 1000} KB answer in {EVENT_CHARS}-character events at "
        f"{EVENTS_PER_SECOND}/s ({stream['seconds']:.1f} s): longest task {longest}; longest "
        f"gap between frames {stream['frameGap']:.0f} ms; {stream['renders']} render requests, "
        f"{stream['total']:.0f} ms of server render CPU time vs {stream['once']:.0f} ms to render "
        f"the final answer once: {stream['total'] / stream['once']:.2f}x (target <= 5x)"
    )
    print(
        f"- the same, first long answer of a fresh server (with the one-time imports of the "
        f"renderer and the lexers it needed): {cold['renders']} render requests, "
        f"{cold['total']:.0f} ms: {cold['total'] / cold['once']:.2f}x"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
