"""How the server serves the page: headers, caching, compression, the size budget,
the render endpoint, ``--no-web`` and the address ``acytoo serve`` prints."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from acytoo.server import RunningServer, ServerConfig, serve
from acytoo.web._assets import Assets

Start = Callable[..., Awaitable[RunningServer]]

# The budget: the page's own files, uncompressed.
BUDGET = 100 * 1024


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**config: Any) -> RunningServer:
            config.setdefault("port", 0)
            config.setdefault("grace_period", 1.0)
            return await stack.enter_async_context(serve(ServerConfig(**config)))

        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # auto_decompress off: the tests look at the bytes as sent.
    async with aiohttp.ClientSession(
        auto_decompress=False, headers={"Accept-Encoding": "identity"}
    ) as session:
        yield session


def test_the_page_fits_the_budget() -> None:
    assets = Assets.load()
    assert {"index.html", "app.js", "app.css", "favicon.svg"} <= set(assets.files)
    assert assets.total_bytes <= BUDGET, assets.total_bytes


async def test_the_page_has_strict_security_headers(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    async with http.get(server.url + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["img-src"] == "'self'"
    assert "unsafe" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_the_page_has_no_inline_script_or_style(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    async with http.get(server.url + "/") as response:
        html = await response.text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/static/app.js">']
    assert "<style" not in html
    assert not re.search(r"\son\w+=|\sstyle=", html)


@pytest.mark.parametrize(
    "name", ["app.js", "store.js", "api.js", "view.js", "app.css", "favicon.svg"]
)
async def test_files_revalidate_with_etags(
    start: Start, http: aiohttp.ClientSession, name: str
) -> None:
    server = await start()
    url = f"{server.url}/static/{name}"
    async with http.get(url) as response:
        assert response.status == 200
        etag = response.headers["ETag"]
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = await response.read()
    async with http.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""
    async with http.get(url, headers={"If-None-Match": '"other"'}) as response:
        assert response.status == 200
        assert await response.read() == body


async def test_files_are_gzipped_when_the_client_accepts_it(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    async with http.get(
        server.url + "/static/app.js", headers={"Accept-Encoding": "identity"}
    ) as r:
        plain = await r.read()
        assert "Content-Encoding" not in r.headers
    async with http.get(
        server.url + "/static/app.js", headers={"Accept-Encoding": "gzip, deflate, br"}
    ) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Vary"] == "Accept-Encoding"
        packed = await r.read()
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 2
    async with http.get(server.url + "/", headers={"Accept-Encoding": "gzip;q=0"}) as r:
        assert "Content-Encoding" not in r.headers


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/..%2Fmarkdown.py", "/static/index.html", "/index.html"]
)
async def test_only_the_page_files_are_served(
    start: Start, http: aiohttp.ClientSession, path: str
) -> None:
    server = await start()
    async with http.get(server.url + path) as response:
        assert response.status == 404
        assert "error" in await response.json()


async def test_no_web_serves_the_api_alone(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(web=False)
    for method, path in [("GET", "/"), ("GET", "/static/app.js"), ("POST", "/api/render")]:
        async with http.request(method, server.url + path, json={"text": "x"}) as response:
            assert response.status in (404, 405), path
    async with http.get(server.url + "/healthz") as response:
        assert response.status == 200


async def render(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, Any]:
    async with http.post(url + "/api/render", data=json.dumps(body)) as response:
        return response.status, await response.json()


async def test_render_endpoint(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start()
    status, body = await render(http, server.url, {"text": "# Hi\n\nsome *text*\n"})
    assert status == 200
    assert body == {
        "final_html": "<h1>Hi</h1>\n<p>some <em>text</em></p>\n",
        "final_lines": 0,
        "tail_html": "",
    }
    status, body = await render(http, server.url, {"text": "# Hi\n\nsome\n", "partial": True})
    assert (status, body["final_lines"], body["tail_html"]) == (200, 2, "<p>some</p>\n")
    async with http.post(server.url + "/api/render", json={"text": "x"}) as response:
        assert re.fullmatch(r'render;desc="CPU";dur=\d+\.\d+', response.headers["Server-Timing"])


async def test_a_large_text_renders_off_the_event_loop(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    text = "".join(f"Paragraph {i} with `code` and **bold**.\n\n" for i in range(2000))
    status, body = await render(http, server.url, {"text": text})
    assert status == 200
    assert body["final_html"].count("<p>") == 2000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "text must be a string"),
        ({"text": 3}, "text must be a string"),
        ({"text": "x", "partial": "yes"}, "partial must be a boolean"),
        ([], "must be a JSON object"),
    ],
)
async def test_render_rejects_bad_bodies(
    start: Start, http: aiohttp.ClientSession, body: object, message: str
) -> None:
    server = await start()
    status, answer = await render(http, server.url, body)
    assert status == 400
    assert message in answer["msg"]


async def test_render_wants_the_password_of_a_protected_server(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start(password="s3cret")
    status, answer = await render(http, server.url, {"text": "x"})
    assert status == 401
    assert answer["error"]["type"] == "authentication_error"
    status, _ = await render(http, server.url, {"text": "x", "password": "s3cret"})
    assert status == 200
    async with http.get(server.url + "/") as response:
        assert response.status == 200  # the page itself is public: it asks for the password


async def read_until(stream: asyncio.StreamReader, pattern: bytes, seen: list[bytes]) -> bytes:
    for _ in range(200):
        line = await asyncio.wait_for(stream.readline(), 30)
        seen.append(line)
        if re.search(pattern, line) or not line:
            return line
    return b""


@pytest.mark.parametrize("web", [True, False])
async def test_serve_tells_the_page_address(web: bool, http: aiohttp.ClientSession) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    args = ["-m", "acytoo.server", "--port", "0", "--no-access-log"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        *([] if web else ["--no-web"]),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    seen: list[bytes] = []
    try:
        listening = await read_until(process.stderr, rb"listening on", seen)
        url = re.search(rb"listening on (http://\S+)", listening)
        assert url, seen
        if web:
            line = await read_until(process.stderr, rb"Chat page", seen)
            page = re.search(rb"Chat page: (http://\S+/)$", line.strip())
            assert page, seen
            assert page[1].decode() == url[1].decode() + "/"
            async with http.get(page[1].decode()) as response:
                assert response.status == 200
        else:
            async with http.get(url[1].decode() + "/") as response:
                assert response.status == 404
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    rest = await process.stderr.read()
    assert (b"Chat page" in b"".join(seen) + rest) == web


def test_the_page_address_of_a_wildcard_host_is_loopback() -> None:
    app = web.Application()
    assert RunningServer("0.0.0.0", 8000, app).page_url == "http://127.0.0.1:8000/"
    assert RunningServer("::", 8000, app).page_url == "http://[::1]:8000/"
    assert RunningServer("192.0.2.7", 80, app).page_url == "http://192.0.2.7:80/"
    assert RunningServer("::1", 9000, app).page_url == "http://[::1]:9000/"
