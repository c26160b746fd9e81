"""Proxies: real pproxy processes (HTTP with and without auth, SOCKS5) and the environment."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

import acytoo
from acytoo import Acytoo, RetryPolicy
from acytoo._transport._proxy import resolve_proxy
from servers.acytoo_server import AcytooTestServer
from servers.proxies import PROXY_PASSWORD, PROXY_USER, ProxyProcess

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


async def ask(server: AcytooTestServer, **kwargs: Any) -> str:
    return await Acytoo.create_async("", MESSAGES, url=server.url, **kwargs)


async def test_http_proxy(acytoo_server: AcytooTestServer, http_proxy: ProxyProcess) -> None:
    assert await ask(acytoo_server, proxy=http_proxy.url) == "Hello"
    line = http_proxy.relayed_to(acytoo_server.port)
    assert line.startswith("http "), http_proxy.log()
    # Through an HTTP proxy the request is sent in absolute form and arrives unchanged.
    assert acytoo_server.requests[0].headers["accept"] == "*/*"


async def test_http_proxy_with_credentials(
    acytoo_server: AcytooTestServer, http_auth_proxy: ProxyProcess
) -> None:
    assert PROXY_USER in http_auth_proxy.url
    assert await ask(acytoo_server, proxy=http_auth_proxy.url) == "Hello"
    assert http_auth_proxy.relayed_to(acytoo_server.port), http_auth_proxy.log()


@pytest.mark.parametrize("userinfo", ["", f"{PROXY_USER}:wrong@"])
async def test_http_proxy_rejects_missing_or_wrong_credentials(
    acytoo_server: AcytooTestServer, http_auth_proxy: ProxyProcess, userinfo: str
) -> None:
    proxy = f"http://{userinfo}127.0.0.1:{http_auth_proxy.port}"
    with pytest.raises(acytoo.ProxyError) as caught:
        await ask(acytoo_server, proxy=proxy, retry_policy=RetryPolicy(initial_delay=0.01))
    assert "407" in str(caught.value)
    assert PROXY_PASSWORD not in str(caught.value)
    assert acytoo_server.requests == []


async def test_socks5_proxy(acytoo_server: AcytooTestServer, socks5_proxy: ProxyProcess) -> None:
    assert await ask(acytoo_server, proxy=socks5_proxy.url) == "Hello"
    line = socks5_proxy.relayed_to(acytoo_server.port)
    assert line.startswith("socks5 "), socks5_proxy.log()


async def test_socks5_proxy_with_credentials(
    acytoo_server: AcytooTestServer, socks5_auth_proxy: ProxyProcess
) -> None:
    assert await ask(acytoo_server, proxy=socks5_auth_proxy.url) == "Hello"
    assert socks5_auth_proxy.relayed_to(acytoo_server.port), socks5_auth_proxy.log()


@pytest.mark.parametrize("userinfo", ["", f"{PROXY_USER}:wrong@"])
async def test_socks5_proxy_rejecting_credentials_raises_proxy_error(
    acytoo_server: AcytooTestServer, socks5_auth_proxy: ProxyProcess, userinfo: str
) -> None:
    proxy = f"socks5://{userinfo}127.0.0.1:{socks5_auth_proxy.port}"
    with pytest.raises(acytoo.ProxyError) as caught:
        await ask(acytoo_server, proxy=proxy, retry_policy=RetryPolicy(initial_delay=0.01))
    assert isinstance(caught.value, aiohttp.ClientConnectionError)
    assert "wrong" not in str(caught.value)
    assert acytoo_server.requests == []


async def test_socks5h_lets_the_proxy_resolve_names(
    acytoo_server: AcytooTestServer, socks5_proxy: ProxyProcess
) -> None:
    url = f"http://localhost:{acytoo_server.port}"
    proxy = f"socks5h://127.0.0.1:{socks5_proxy.port}"
    assert await Acytoo.create_async("", MESSAGES, url=url, proxy=proxy) == "Hello"
    assert socks5_proxy.wait_for_log(f"-> localhost:{acytoo_server.port}")


async def test_unreachable_proxy_raises_proxy_error(
    acytoo_server: AcytooTestServer, refused_port: int
) -> None:
    for scheme in ("http", "socks5"):
        with pytest.raises(acytoo.ProxyError):
            await ask(
                acytoo_server,
                proxy=f"{scheme}://127.0.0.1:{refused_port}",
                retry_policy=RetryPolicy(max_retries=0),
            )
    assert acytoo_server.requests == []


async def test_http_proxy_from_environment(
    acytoo_server: AcytooTestServer, http_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url)
    assert await ask(acytoo_server) == "Hello"
    assert http_proxy.relayed_to(acytoo_server.port), http_proxy.log()


async def test_all_proxy_socks_from_environment(
    acytoo_server: AcytooTestServer, socks5_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", socks5_proxy.url)
    assert await ask(acytoo_server) == "Hello"
    assert socks5_proxy.relayed_to(acytoo_server.port), socks5_proxy.log()


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1"])
async def test_no_proxy_is_respected(
    acytoo_server: AcytooTestServer,
    http_proxy: ProxyProcess,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert await ask(acytoo_server) == "Hello"
    # pproxy logs a connection before relaying it, and the answer has arrived,
    # so a proxied request would already be in the log.
    assert f"-> 127.0.0.1:{acytoo_server.port}" not in http_proxy.log()


async def test_explicit_empty_proxy_overrides_the_environment(
    acytoo_server: AcytooTestServer, http_proxy: ProxyProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url)
    assert await ask(acytoo_server, proxy="") == "Hello"
    assert f"-> 127.0.0.1:{acytoo_server.port}" not in http_proxy.log()


# --- resolve_proxy, table-driven ---------------------------------------------------------

TARGET = URL("http://api.example.test/api/completions")


@pytest.mark.parametrize(
    ("explicit", "environment", "expected"),
    [
        (None, {}, None),
        ("", {"HTTP_PROXY": "http://env:1"}, None),
        ("http://u:p@proxy:3128", {}, "http://u:p@proxy:3128"),
        ("socks5://proxy:1080", {"HTTP_PROXY": "http://env:1"}, "socks5://proxy:1080"),
        (None, {"HTTP_PROXY": "http://env:1"}, "http://env:1"),
        (None, {"http_proxy": "http://lower:1"}, "http://lower:1"),
        (None, {"ALL_PROXY": "socks5://all:1"}, "socks5://all:1"),
        (None, {"HTTPS_PROXY": "http://only-https:1"}, None),
        (None, {"HTTP_PROXY": "http://env:1", "NO_PROXY": "example.test"}, None),
        (None, {"HTTP_PROXY": "http://env:1", "NO_PROXY": ".example.test"}, None),
        (None, {"HTTP_PROXY": "http://env:1", "NO_PROXY": "other.test"}, "http://env:1"),
        (None, {"ALL_PROXY": "socks5://all:1", "NO_PROXY": "*"}, None),
        (None, {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1"}, "http://lower:1"),
        (None, {"HTTP_PROXY": "http://upper:1", "http_proxy": ""}, None),
        (None, {"HTTP_PROXY": "http://upper:1", "ALL_PROXY": "socks5://all:1"}, "http://upper:1"),
        # httpoxy: under CGI, HTTP_PROXY may come from a request header; ignore it.
        (None, {"HTTP_PROXY": "http://upper:1", "REQUEST_METHOD": "GET"}, None),
        (None, {"http_proxy": "http://lower:1", "REQUEST_METHOD": "GET"}, "http://lower:1"),
    ],
)
def test_resolve_proxy(
    monkeypatch: pytest.MonkeyPatch,
    explicit: str | None,
    environment: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    resolved = resolve_proxy(TARGET, explicit)
    assert (str(resolved) if resolved is not None else None) == expected


@pytest.mark.parametrize(
    "proxy", ["nonsense", "ftp://proxy:21", "http://", "socks5://", "http://[bad", 8080]
)
def test_resolve_proxy_rejects(proxy: Any) -> None:
    with pytest.raises(acytoo.InvalidRequestError):
        resolve_proxy(TARGET, proxy)


def test_resolve_proxy_uses_the_target_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain:1")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure:1")
    assert str(resolve_proxy(URL("https://api.example.test/"), None)) == "http://secure:1"
    assert str(resolve_proxy(URL("http://api.example.test/"), None)) == "http://plain:1"


async def test_injected_session_goes_through_an_http_proxy(
    acytoo_server: AcytooTestServer, http_proxy: ProxyProcess
) -> None:
    async with aiohttp.ClientSession() as session:
        assert await ask(acytoo_server, proxy=http_proxy.url, session=session) == "Hello"
    assert http_proxy.relayed_to(acytoo_server.port), http_proxy.log()


@pytest.mark.parametrize("from_environment", [False, True])
async def test_injected_session_with_socks_proxy_is_refused_not_bypassed(
    acytoo_server: AcytooTestServer,
    socks5_proxy: ProxyProcess,
    monkeypatch: pytest.MonkeyPatch,
    from_environment: bool,
) -> None:
    kwargs: dict[str, Any] = {}
    if from_environment:
        monkeypatch.setenv("ALL_PROXY", socks5_proxy.url)
    else:
        kwargs["proxy"] = socks5_proxy.url
    async with aiohttp.ClientSession() as session:
        with pytest.raises(acytoo.InvalidRequestError, match="SOCKS"):
            await ask(acytoo_server, session=session, **kwargs)
        # Opting out of the environment's proxy works with the same session.
        assert await ask(acytoo_server, session=session, proxy="") == "Hello"
    assert len(acytoo_server.requests) == 1
