"""What the server tells clients and its log about upstream failures; whose key failed;
retries that do not stack; the environment key rule; --upstream-password.

Whole chains over loopback: clients (raw HTTP, the Acytoo provider, the openai
SDK), the server, real providers, real upstream servers.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import openai
import pytest
from server_helpers import USER

from acytoo import (
    Acytoo,
    AuthenticationError,
    InternalServerError,
    InvalidRequestError,
    RetryPolicy,
    Timeout,
)
from acytoo.providers.acytoo import Acytoo as AcytooProvider
from acytoo.server import Backend, ServerConfig, build_backend
from servers._scripted import running
from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream

PASSWORD = "url-pass-5e1"
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
ENDPOINTS = ["/api/completions", "/v1/chat/completions"]


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://operator:{PASSWORD}@", 1)


def body_for(path: str) -> dict[str, Any]:
    return {"messages": USER} if path == "/api/completions" else {"model": "m", "messages": USER}


async def post(http: aiohttp.ClientSession, url: str, path: str) -> tuple[int, str, Any]:
    async with http.post(url + path, json=body_for(path)) as response:
        return response.status, await response.text(), response.headers


def message_of(text: str) -> str:
    message: str = json.loads(text)["error"]["message"]
    return message


# --- credentials and internal addresses stay out of answers and logs -------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("kind", ["openai", "acytoo"])
async def test_unreachable_upstream_is_a_generic_502(
    start_server, http, refused_port: int, caplog: pytest.LogCaptureFixture, path: str, kind: str
) -> None:
    upstream = with_userinfo(f"http://127.0.0.1:{refused_port}") + (
        "/v1" if kind == "openai" else ""
    )
    server = await start_server(build_backend(kind, [upstream], max_retries=0))
    with caplog.at_level(logging.INFO):
        status, text, headers = await post(http, server.url, path)
    assert status == 502
    assert message_of(text) == "upstream unreachable"
    assert str(refused_port) not in text
    assert PASSWORD not in text
    assert headers["x-should-retry"] == "false"
    # The operator's log has the detail, without the password.
    assert f"***@127.0.0.1:{refused_port}" in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_upstream_timeout_is_a_generic_504(
    start_server, http, acytoo_server: AcytooTestServer, path: str
) -> None:
    acytoo_server.reply(Reply(chunks=[], ending="hold"))
    provider = AcytooProvider.configure(
        "acytoo", url=with_userinfo(acytoo_server.url), timeout=Timeout(read=0.5), max_retries=0
    )
    server = await start_server(Backend(provider, key_option="key"))
    status, text, _ = await post(http, server.url, path)
    assert status == 504
    assert message_of(text) == "upstream timed out"
    assert str(acytoo_server.port) not in text


async def test_upstream_status_message_does_not_name_the_upstream(
    start_server, http, acytoo_server: AcytooTestServer
) -> None:
    acytoo_server.reply(Reply(chunks=[b"<html>oops</html>"], status=500))
    server = await start_server(build_backend("acytoo", [acytoo_server.url], max_retries=0))
    status, text, _ = await post(http, server.url, "/api/completions")
    assert status == 500
    assert str(acytoo_server.port) not in text
    assert "HTTP 500" in message_of(text)


async def test_failover_log_does_not_show_credentials(
    start_server, http, refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    upstreams = [with_userinfo(f"http://127.0.0.1:{refused_port}/v1")] * 2
    server = await start_server(build_backend("openai", upstreams, max_retries=0))
    with caplog.at_level(logging.INFO):
        status, text, _ = await post(http, server.url, "/v1/chat/completions")
    assert status == 502
    assert "trying the next provider" in caplog.text  # the failover path logged...
    assert PASSWORD not in caplog.text  # ...without the password
    assert PASSWORD not in text
    assert str(refused_port) not in text


# --- whose key failed ---------------------------------------------------------------------


async def test_the_servers_own_rejected_key_is_a_502_for_the_operator(
    start_server, http, acytoo_server: AcytooTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    acytoo_server.default_reply = Reply(chunks=[b'{"msg": "invalid key"}'], status=401)
    server = await start_server(
        build_backend("acytoo", [acytoo_server.url], max_retries=0), upstream_keys=("sk-server",)
    )
    with caplog.at_level(logging.INFO):
        status, text, _ = await post(http, server.url, "/api/completions")
    assert status == 502
    assert message_of(text) == "upstream rejected the server's credentials"
    assert "rejected the server's own credentials" in caplog.text
    assert "sk-server" not in caplog.text
    # A client's own key that the upstream rejects is the client's 401.
    with pytest.raises(AuthenticationError) as caught:
        await Acytoo.create_async("", USER, url=server.url, key="sk-client", max_retries=0)
    assert caught.value.status == 401
    assert json.loads(acytoo_server.requests[1].body)["key"] == "sk-client"


async def test_the_servers_rejected_key_on_v1(
    start_server, openai_upstream: OpenAIUpstream
) -> None:
    openai_upstream.api_keys = {"sk-right"}
    server = await start_server(
        build_backend("openai", [openai_upstream.base_url], max_retries=0),
        upstream_keys=("sk-wrong",),
    )
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0
    ) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert "rejected the server's credentials" in str(caught.value)


# --- retries do not stack ---------------------------------------------------------------------


async def test_a_client_does_not_retry_what_the_server_already_retried(
    start_server, acytoo_server: AcytooTestServer
) -> None:
    # retry-after-ms: 0 keeps the server's own retries quick.
    acytoo_server.default_reply = Reply(
        chunks=[b'{"msg": "down"}'], status=500, headers={"retry-after-ms": "0"}
    )
    # The server retries its upstream with the default policy: 1 + 2 attempts.
    server = await start_server(build_backend("acytoo", [acytoo_server.url]))
    with pytest.raises(InternalServerError) as caught:
        await Acytoo.create_async("", USER, url=server.url, retry_policy=FAST_RETRY)
    assert caught.value.status == 500
    assert len(acytoo_server.requests) == 3  # not 3 x 3
    # The openai SDK honours the same header.
    async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=2) as sdk:
        with pytest.raises(openai.InternalServerError):
            await sdk.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert len(acytoo_server.requests) == 6


async def test_the_servers_own_errors_stay_retryable(start_server, http) -> None:
    server = await start_server(rate_limit=None)
    async with http.post(f"{server.url}/api/completions", json={"messages": "x"}) as response:
        assert response.status == 400
        assert "x-should-retry" not in response.headers


# --- environment keys: the same rule as the CLI -------------------------------------------------


async def test_the_server_sends_openai_api_key_only_where_it_belongs(
    start_server, http, openai_upstream: OpenAIUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server = await start_server(build_backend("openai", [openai_upstream.base_url], max_retries=0))
    assert (await post(http, server.url, "/api/completions"))[0] == 200
    monkeypatch.setenv("OPENAI_BASE_URL", openai_upstream.base_url)
    assert (await post(http, server.url, "/api/completions"))[0] == 200
    assert [r.authorization for r in openai_upstream.chat_requests] == [None, "Bearer sk-from-env"]


# --- a password-protected upstream acytoo server ---------------------------------------------


async def test_upstream_password_is_sent_and_the_clients_never_is(
    start_server, acytoo_server: AcytooTestServer
) -> None:
    server = await start_server(
        build_backend("acytoo", [acytoo_server.url], max_retries=0),
        password="front-pw",
        upstream_password="up-pw",
    )
    assert await Acytoo.create_async("", USER, url=server.url, password="front-pw") == "Hello"
    sent = json.loads(acytoo_server.requests[0].body)
    assert sent["password"] == "up-pw"
    assert "front-pw" not in acytoo_server.requests[0].body.decode()
    assert "up-pw" not in repr(server)


async def test_chain_to_a_password_protected_acytoo_server(start_server) -> None:
    upstream = await start_server(password="up-pw")  # the offline assistant, protected
    chained = await start_server(
        build_backend("acytoo", [upstream.url], max_retries=0), upstream_password="up-pw"
    )
    assert await Acytoo.create_async("", USER, url=chained.url, max_retries=0)
    unauthorised = await start_server(build_backend("acytoo", [upstream.url], max_retries=0))
    with pytest.raises(InternalServerError) as caught:
        await Acytoo.create_async("", USER, url=unauthorised.url, max_retries=0)
    assert caught.value.status == 502
    assert "upstream rejected the server's credentials" in str(caught.value)


def test_upstream_password_needs_the_acytoo_backend() -> None:
    backend = build_backend("openai", ["http://127.0.0.1:1/v1"])
    with pytest.raises(InvalidRequestError, match="takes no upstream password"):
        ServerConfig(backend=backend, upstream_password="x")
    with pytest.raises(InvalidRequestError, match="must not be empty"):
        ServerConfig(upstream_password="")
    config = ServerConfig(
        backend=build_backend("acytoo", ["http://127.0.0.1:1"]), upstream_password="up-secret"
    )
    assert "up-secret" not in repr(config)


async def test_a_second_origin_never_receives_what_a_redirecting_upstream_asked_for(
    start_server, http, acytoo_server: AcytooTestServer
) -> None:
    async with running(AcytooTestServer()) as elsewhere:
        acytoo_server.default_reply = Reply(
            status=307, headers={"Location": elsewhere.url + "/api/completions"}, chunks=[]
        )
        server = await start_server(
            build_backend("acytoo", [acytoo_server.url], max_retries=0),
            upstream_keys=("sk-server",),
            upstream_password="up-pw",
        )
        status, text, _ = await post(http, server.url, "/api/completions")
        assert elsewhere.requests == []
    assert status == 502
    assert str(elsewhere.port) not in text
