"""Secrets never leave through the transport: URL credentials, redirects, bad text.

Against real servers on 127.0.0.1 and real proxy processes.
"""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

import acytoo
from acytoo import Acytoo, OpenAICompatible, RetryPolicy
from acytoo._transport import HTTPRequest, TransportOptions, open_stream
from acytoo._urls import redact_url
from servers._scripted import running
from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream
from servers.proxies import PROXY_USER, ProxyProcess

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]
NO_RETRY = RetryPolicy(max_retries=0)
URL_PASSWORD = "url-pass-9f3"


def with_userinfo(url: str, password: str = URL_PASSWORD) -> str:
    return url.replace("http://", f"http://someone:{password}@", 1)


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    for text in (str(error), repr(error), str(getattr(error, "url", ""))):
        for secret in secrets:
            assert secret not in text, text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("http://u:p@h:1/v1?x=1", "http://***@h:1/v1?x=1"),
        ("http://h/a@b", "http://h/a@b"),
        ("http://u:p@h:99999/x", "http://***@h:99999/x"),  # invalid port: still redacted
        ("http://u:p/ss@h/x", "http://***@h/x"),  # an unencoded "/" in the password
        ("socks5://a:b@127.0.0.1:1080", "socks5://***@127.0.0.1:1080"),
        ("http://:only-password@h/", "http://***@h/"),
        ("no scheme u:p@x", "no scheme u:p@x"),
    ],
)
def test_redact_url(raw: str, shown: str) -> None:
    assert redact_url(raw) == shown
    if "://" in raw and ":99999" not in raw and "/ss@" not in raw:
        assert redact_url(URL(raw)) == shown


# --- credentials in URLs ----------------------------------------------------------------


async def test_status_error_does_not_show_url_credentials(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(chunks=[b'{"msg": "nope"}'], status=500))
    with pytest.raises(acytoo.InternalServerError) as caught:
        await Acytoo.create_async(
            "", MESSAGES, url=with_userinfo(acytoo_server.url), key="sk-k", max_retries=0
        )
    assert_no_secret(caught.value, URL_PASSWORD, "sk-k")
    # The credentials did go to their own origin, as Basic auth.
    assert acytoo_server.requests[0].headers["Authorization"].startswith("Basic ")


async def test_connect_error_does_not_show_url_credentials(refused_port: int) -> None:
    url = with_userinfo(f"http://127.0.0.1:{refused_port}")
    with pytest.raises(acytoo.ConnectError) as caught:
        await Acytoo.create_async("", MESSAGES, url=url, max_retries=0)
    assert_no_secret(caught.value, URL_PASSWORD)
    assert f"127.0.0.1:{refused_port}" in str(caught.value)


async def test_invalid_base_url_message_does_not_show_credentials() -> None:
    with pytest.raises(acytoo.InvalidRequestError) as caught:
        await OpenAICompatible.create_async("", MESSAGES, base_url="ftp://u:hidden-pw@h/v1")
    assert_no_secret(caught.value, "hidden-pw")


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_proxy_errors_do_not_show_proxy_credentials(
    refused_port: int,
    http_auth_proxy: ProxyProcess,
    socks5_auth_proxy: ProxyProcess,
    kind: str,
) -> None:
    proxy = http_auth_proxy if kind == "http" else socks5_auth_proxy
    wrong = f"{kind}://{PROXY_USER}:wrong-proxy-pw@127.0.0.1:{proxy.port}"
    with pytest.raises(acytoo.ConnectError) as caught:
        await Acytoo.create_async(
            "", MESSAGES, url=f"http://127.0.0.1:{refused_port}", proxy=wrong, max_retries=0
        )
    assert_no_secret(caught.value, "wrong-proxy-pw")
    # And a proxy that cannot be reached at all.
    gone = f"{kind}://{PROXY_USER}:gone-proxy-pw@127.0.0.1:{refused_port}"
    with pytest.raises(acytoo.ConnectError) as caught:
        await Acytoo.create_async("", MESSAGES, url="http://127.0.0.1:9", proxy=gone, max_retries=0)
    assert_no_secret(caught.value, "gone-proxy-pw")


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed_and_names_its_target(
    acytoo_server: AcytooTestServer, status: int
) -> None:
    async with running(AcytooTestServer()) as elsewhere:
        target = with_userinfo(elsewhere.url, "loc-pw") + "/api/completions"
        acytoo_server.reply(Reply(status=status, headers={"Location": target}, chunks=[]))
        with pytest.raises(acytoo.APIStatusError) as caught:
            await Acytoo.create_async(
                "", MESSAGES, url=acytoo_server.url, key="sk-client", password="pw-client"
            )
        # The other origin received nothing: not the key, not the password.
        assert elsewhere.requests == []
    assert caught.value.status == status
    assert f"***@127.0.0.1:{elsewhere.port}/api/completions" in str(caught.value)
    assert_no_secret(caught.value, "loc-pw", "sk-client", "pw-client")
    assert len(acytoo_server.requests) == 1  # not retried either


async def test_a_relative_redirect_is_resolved_in_the_message(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(status=307, headers={"Location": "/elsewhere"}, chunks=[]))
    with pytest.raises(acytoo.APIStatusError) as caught:
        await Acytoo.create_async("", MESSAGES, url=acytoo_server.url)
    assert f"{acytoo_server.url}/elsewhere" in str(caught.value)
    assert [r.path for r in acytoo_server.requests] == ["/api/completions"]


# --- raw exceptions become InvalidRequestError ----------------------------------------------


async def test_url_credentials_and_an_api_key_together_are_an_invalid_request(
    openai_upstream: OpenAIUpstream,
) -> None:
    base_url = with_userinfo(openai_upstream.base_url)
    with pytest.raises(acytoo.InvalidRequestError, match="one way, not both") as caught:
        await OpenAICompatible.create_async("m", MESSAGES, base_url=base_url, api_key="sk-x")
    assert_no_secret(caught.value, URL_PASSWORD, "sk-x")
    assert openai_upstream.requests == []


@pytest.mark.parametrize("where", ["content", "key"])
async def test_lone_surrogates_are_an_invalid_request(
    acytoo_server: AcytooTestServer, where: str
) -> None:
    messages = [{"role": "user", "content": "bad \ud800 text" if where == "content" else "hi"}]
    options = {"key": "sk-\udfff"} if where == "key" else {}
    with pytest.raises(acytoo.InvalidRequestError, match="lone surrogate"):
        await Acytoo.create_async("", messages, url=acytoo_server.url, **options)
    assert acytoo_server.requests == []


@pytest.mark.parametrize("api_key", ["sk-\ud800", "sk-ключ", "sk-a\r\nX-Injected: 1"])
async def test_an_api_key_that_cannot_be_a_header_is_an_invalid_request(
    openai_upstream: OpenAIUpstream, api_key: str
) -> None:
    with pytest.raises(acytoo.InvalidRequestError, match="API key") as caught:
        await OpenAICompatible.create_async(
            "m", MESSAGES, base_url=openai_upstream.base_url, api_key=api_key
        )
    assert_no_secret(caught.value, api_key)
    assert openai_upstream.requests == []


async def test_a_low_level_request_with_a_surrogate_is_refused(
    acytoo_server: AcytooTestServer,
) -> None:
    request = HTTPRequest(URL(acytoo_server.url + "/x"), {}, {"q": "\ud83d"})
    with pytest.raises(acytoo.InvalidRequestError):
        async with open_stream(request, TransportOptions(retry=NO_RETRY)):
            pass


async def test_the_credentials_conflict_message_does_not_name_the_url(
    openai_upstream: OpenAIUpstream,
) -> None:
    # Behind a server the base URL is an internal address: the message does not show it.
    base_url = with_userinfo(openai_upstream.base_url)
    with pytest.raises(acytoo.InvalidRequestError) as caught:
        await OpenAICompatible.create_async("m", MESSAGES, base_url=base_url, api_key="sk-x")
    assert str(openai_upstream.port) not in str(caught.value)
