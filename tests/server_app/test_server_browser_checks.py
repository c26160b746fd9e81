"""Web pages cannot use a local server behind its operator's back: the Origin and
Host checks, and CORS for the origins the operator allows."""

from __future__ import annotations

import json

import pytest
from server_helpers import USER, scripted

from acytoo._base_errors import InvalidRequestError
from acytoo.server import Backend, ServerConfig
from acytoo.server.security import BrowserPolicy, check_origin_setting

BODY = json.dumps({"messages": USER})
# What a page's fetch() sends without a preflight: a "simple" request.
SIMPLE = {"Content-Type": "text/plain;charset=UTF-8"}


def own_origin(server) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.mark.parametrize("path", ["/api/completions", "/v1/chat/completions"])
async def test_a_foreign_page_is_refused_with_403_json(start_server, http, path) -> None:
    calls: list[object] = []
    server = await start_server(Backend(scripted(calls=calls)))
    headers = {**SIMPLE, "Origin": "https://evil.example"}
    async with http.post(f"{server.url}{path}", data=BODY, headers=headers) as response:
        body = await response.json()
    assert response.status == 403
    assert "https://evil.example" in body["error"]["message"]
    assert "--allow-origin" in body["error"]["message"]
    assert body["error"]["code"] == "origin_not_allowed"
    assert ("msg" in body) == (path == "/api/completions")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert calls == []  # the backend was never asked: no upstream key spent


async def test_requests_without_origin_are_unaffected(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=SIMPLE) as response:
        assert response.status == 200
        assert await response.text() == "Hello, world"
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_the_servers_own_pages_pass(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        headers = {**SIMPLE, "Origin": f"http://{host}", "Host": host}
        async with http.post(
            f"{server.url}/api/completions", data=BODY, headers=headers
        ) as response:
            assert response.status == 200, host
            assert await response.text() == "Hello, world"


async def test_same_host_other_port_is_another_origin(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    headers = {**SIMPLE, "Origin": f"http://127.0.0.1:{server.port + 1}"}
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=headers) as response:
        assert response.status == 403


async def test_null_origin_is_refused_unless_listed(start_server, http) -> None:
    refused = await start_server(Backend(scripted()))
    allowed = await start_server(Backend(scripted()), allow_origins=("null",))
    headers = {**SIMPLE, "Origin": "null"}
    async with http.post(f"{refused.url}/api/completions", data=BODY, headers=headers) as r:
        assert r.status == 403
    async with http.post(f"{allowed.url}/api/completions", data=BODY, headers=headers) as r:
        assert r.status == 200


async def test_an_allowed_origin_gets_cors_headers_on_a_stream(start_server, http) -> None:
    server = await start_server(
        Backend(scripted()), allow_origins=("https://App.Example:443/", "http://other.example")
    )
    headers = {**SIMPLE, "Origin": "https://app.example"}
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "Origin" in response.headers["Vary"]
        assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
        assert await response.text() == "Hello, world"
    async with http.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": USER, "stream": True},
        headers={"Origin": "http://other.example"},
    ) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "http://other.example"
        assert b"data: [DONE]" in await response.read()
    headers = {**SIMPLE, "Origin": "https://app.example:8443"}
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=headers) as response:
        assert response.status == 403


async def test_error_answers_to_an_allowed_origin_are_readable(start_server, http) -> None:
    server = await start_server(
        Backend(scripted()), allow_origins=("https://app.example",), password="pw"
    )
    headers = {**SIMPLE, "Origin": "https://app.example"}
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=headers) as response:
        assert response.status == 401
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


async def test_star_allows_any_origin(start_server, http) -> None:
    server = await start_server(Backend(scripted()), allow_origins=("*",))
    for origin in ("https://anything.example", "null"):
        headers = {**SIMPLE, "Origin": origin}
        async with http.post(
            f"{server.url}/api/completions", data=BODY, headers=headers
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin


async def test_preflight_for_an_allowed_origin(start_server, http) -> None:
    server = await start_server(Backend(scripted()), allow_origins=("https://app.example",))
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
    }
    async with http.options(f"{server.url}/v1/chat/completions", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed
        assert "x-stainless-os" in allowed
        assert int(response.headers["Access-Control-Max-Age"]) > 0
    # Header names that are not names are not echoed back.
    headers["Access-Control-Request-Headers"] = "x-a: 1; <script>"
    async with http.options(f"{server.url}/api/completions", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


async def test_preflight_for_a_foreign_origin_is_403(start_server, http) -> None:
    server = await start_server(Backend(scripted()), allow_origins=("https://app.example",))
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    async with http.options(f"{server.url}/api/completions", headers=headers) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
        assert (await response.json())["error"]["code"] == "origin_not_allowed"


async def test_options_without_preflight_headers_is_still_405(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    async with http.options(f"{server.url}/api/completions") as response:
        assert response.status == 405
        assert (await response.json())["error"]["message"] == "method OPTIONS not allowed"


async def test_dns_rebinding_is_refused_by_the_host_check(start_server, http) -> None:
    """A page on rebind.example whose name now resolves to 127.0.0.1: same origin for the
    browser, but it sends its own Host."""
    calls: list[object] = []
    server = await start_server(Backend(scripted(calls=calls)))
    authority = f"rebind.example:{server.port}"
    headers = {**SIMPLE, "Host": authority, "Origin": f"http://{authority}"}
    async with http.post(f"{server.url}/api/completions", data=BODY, headers=headers) as response:
        body = await response.json()
    assert response.status == 421
    assert body["error"]["code"] == "host_not_allowed"
    assert "--allowed-host" in body["msg"]
    async with http.get(f"{server.url}/v1/models", headers={"Host": authority}) as response:
        assert response.status == 421
        assert set(await response.json()) == {"error"}
    assert calls == []


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:1", "127.0.0.1:65535", "[::1]:8000", "localhost.", "127.9.9.9"]
)
async def test_loopback_host_names_pass(start_server, http, host) -> None:
    server = await start_server(Backend(scripted()))
    async with http.get(f"{server.url}/healthz", headers={"Host": host}) as response:
        assert response.status == 200


async def test_allowed_host_adds_a_name(start_server, http) -> None:
    server = await start_server(Backend(scripted()), allowed_hosts=("Chat.Example",))
    for host, status in [("chat.example", 200), ("chat.example:8443", 200), ("x.example", 421)]:
        async with http.get(f"{server.url}/healthz", headers={"Host": host}) as response:
            assert response.status == status, host
    anything = await start_server(Backend(scripted()), allowed_hosts=("*",))
    async with http.get(f"{anything.url}/healthz", headers={"Host": "x.example"}) as response:
        assert response.status == 200


def test_host_check_when_bound_elsewhere() -> None:
    # Bound to every interface: no check unless names are given (no socket needed).
    assert BrowserPolicy.build("0.0.0.0", (), ()).allowed_hosts is None
    assert BrowserPolicy.build("::", (), ()).allowed_hosts is None
    policy = BrowserPolicy.build("0.0.0.0", (), ("chat.example",))
    assert policy.allowed_hosts is not None
    assert {"chat.example", "localhost", "[::1]"} <= policy.allowed_hosts
    assert "0.0.0.0" not in policy.allowed_hosts  # what "0.0.0.0 day" pages fetch
    lan = BrowserPolicy.build("192.168.1.5", (), ("chat.example",)).allowed_hosts
    assert lan is not None
    assert "192.168.1.5" in lan
    # Bound to loopback: always checked; the bound address itself is a valid Host.
    bound = BrowserPolicy.build("::1", (), ()).allowed_hosts
    assert bound is not None
    assert "[::1]" in bound
    assert BrowserPolicy.build("localhost", (), ()).allowed_hosts is not None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://Chat.Example.com/", "https://chat.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("https://x.example:8443", "https://x.example:8443"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("*", "*"),
        ("NULL", "null"),
    ],
)
def test_origin_settings_are_normalized(given, kept) -> None:
    assert check_origin_setting(given) == kept


@pytest.mark.parametrize(
    "bad", ["chat.example.com", "ftp://x", "https://x/path", "https://x?q", "https://user@x", ""]
)
def test_bad_origin_settings_are_refused(bad) -> None:
    with pytest.raises(InvalidRequestError, match="not an origin"):
        ServerConfig(allow_origins=(bad,))


def test_bad_allowed_hosts_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="host names"):
        ServerConfig(allowed_hosts=("http://x/",))
