"""Screenshots of the chat page for docs/web.md, taken with Debian's chromium.

Starts ``acytoo serve``'s application on a free loopback port with the
offline assistant (so the answers are real Markdown with code), asks it a
few questions and writes docs/web-light.png, docs/web-dark.png and
docs/web-phone.png::

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTIONS = [
    "How do I run the server with a password?",
    "What does the CLI keep in its history?",
    "How do I use a SOCKS proxy?",
]


def serve_in_thread(stop: threading.Event, ready: concurrent.futures.Future[str]) -> None:
    from acytoo.server import ServerConfig, serve

    async def main() -> None:
        async with serve(ServerConfig(port=0, access_log=False, grace_period=0.5)) as server:
            ready.set_result(server.url)
            while not stop.is_set():
                await asyncio.sleep(0.05)

    asyncio.run(main())


def ask(page: Page, question: str) -> None:
    if not page.locator("#new-chat").is_visible():
        page.locator("#menu-btn").click()  # a phone: the list is behind the menu
    page.locator("#new-chat").click()
    page.locator("#input").fill(question)
    page.locator("#input").press("Enter")
    page.wait_for_function(
        "() => document.querySelector('article.assistant .actions button')"
        " && document.getElementById('stop').hidden"
    )


def shoot(browser: Browser, url: str, name: str, **options: object) -> None:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_selector("html[data-ready]", state="attached")
    for question in QUESTIONS:
        ask(page, question)
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    page.locator("#input").fill("")
    page.locator("#input").blur()
    page.mouse.move(1, 300)  # no hover highlight on a button
    page.screenshot(path=str(DOCS / name))
    context.close()
    print(f"wrote docs/{name}")


def main() -> None:
    stop = threading.Event()
    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    thread = threading.Thread(target=serve_in_thread, args=(stop, ready))
    thread.start()
    try:
        url = ready.result(30)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            desktop = {"viewport": {"width": 1200, "height": 760}}
            shoot(browser, url, "web-light.png", color_scheme="light", **desktop)
            shoot(browser, url, "web-dark.png", color_scheme="dark", **desktop)
            shoot(
                browser,
                url,
                "web-phone.png",
                color_scheme="light",
                viewport={"width": 375, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            browser.close()
    finally:
        stop.set()
        thread.join(30)


if __name__ == "__main__":
    main()
