"""A real browser (chromium via Playwright) on a page of another origin tries to use
the local server behind its operator's back, as any web site could."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright
from server_helpers import Call, scripted

from acytoo.server import Backend

# Debian's chromium (never `playwright install`).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# What a hostile page runs: a "simple" text/plain POST (no preflight), readable or
# not, and a no-cors one that the page cannot read but that still reaches the server.
ATTACK = """
async (target) => {
  const body = JSON.stringify({messages: [{role: "user", content: "spend the key"}]});
  const results = {};
  try {
    const response = await fetch(target + "/api/completions", {
      method: "POST", headers: {"Content-Type": "text/plain"}, body});
    results.cors = {status: response.status, text: await response.text()};
  } catch (error) {
    results.cors = {error: String(error)};
  }
  try {
    await fetch(target + "/api/completions", {method: "POST", mode: "no-cors", body});
    results.noCors = "sent";
  } catch (error) {
    results.noCors = String(error);
  }
  try {
    const response = await fetch(target + "/v1/chat/completions", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer x"},
      body: JSON.stringify({messages: [{role: "user", content: "hi"}]})});
    results.preflighted = {status: response.status, body: await response.json()};
  } catch (error) {
    results.preflighted = {error: String(error)};
  }
  return results;
}
"""


@contextlib.asynccontextmanager
async def page_site() -> AsyncIterator[str]:
    """Another origin on loopback: a site that serves an empty page."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><title>a web site</title>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], timeout=60_000
        )
        try:
            yield launched
        finally:
            await launched.close()


async def run_attack(browser: Browser, page_origin: str, target: str) -> dict[str, Any]:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(page_origin + "/", timeout=60_000)
        return await page.evaluate(ATTACK, target)
    finally:
        await context.close()


async def test_a_foreign_page_cannot_use_the_server(start_server, browser) -> None:
    calls: list[Call] = []
    server = await start_server(Backend(scripted(calls=calls)))
    async with page_site() as origin:
        results = await run_attack(browser, origin, server.url)
    # The browser could not read anything, and the backend was never asked.
    assert "error" in results["cors"], results
    assert "error" in results["preflighted"], results
    assert calls == []


async def test_an_allowed_origin_can_use_the_server_through_cors(start_server, browser) -> None:
    calls: list[Call] = []
    async with page_site() as origin:
        server = await start_server(
            Backend(scripted(calls=calls)), allow_origins=(origin,), api_keys=("x",)
        )
        results = await run_attack(browser, origin, server.url)
    # The page reads the answers, errors included: a simple POST...
    assert results["cors"]["status"] == 401, results
    assert json.loads(results["cors"]["text"])["msg"] == "No password or wrong password"
    # ...and one that needed a preflight (JSON with an Authorization header).
    preflighted = results["preflighted"]
    assert preflighted["status"] == 200, results
    assert preflighted["body"]["choices"][0]["message"]["content"] == "Hello, world"
    assert len(calls) == 1
