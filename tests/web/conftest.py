"""Browser fixtures: Debian's chromium driven by Playwright, and the server in front of
the scriptable OpenAI upstream (tests/servers) on loopback.

One browser per test module (launching chromium is the slow part); every
test gets a fresh browser context (empty storage) and its own server and
upstream, so nothing leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .pages import CHROMIUM, CHROMIUM_ARGS, Console, open_page, relay_to


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(threaded_openai_upstream: Any) -> Iterator[str]:
    """The server's URL, relaying to ``threaded_openai_upstream``."""
    with relay_to(threaded_openai_upstream.base_url) as url:
        yield url


@pytest.fixture
def page_console(browser: Browser, site: str) -> Iterator[tuple[Page, Console]]:
    with open_page(browser, site) as opened:
        yield opened


@pytest.fixture
def page(page_console: tuple[Page, Console]) -> Page:
    return page_console[0]
