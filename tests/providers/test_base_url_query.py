"""A base URL's query string goes on every request (Azure OpenAI's ``?api-version=``)."""

from __future__ import annotations

from typing import Any

from acytoo import Acytoo, OpenAICompatible
from servers.acytoo_server import AcytooTestServer
from servers.openai_upstream import OpenAIUpstream

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, upstream!"}]


async def test_openai_compatible_keeps_the_query(openai_upstream: OpenAIUpstream) -> None:
    base_url = openai_upstream.base_url + "?api-version=2024-10-21"
    assert await OpenAICompatible.create_async("m", MESSAGES, base_url=base_url, api_key="k")
    assert await OpenAICompatible.list_models(base_url=base_url, api_key="k")
    Azure = OpenAICompatible.configure(base_url=base_url, api_key="k")
    assert await Azure.create_async("m", MESSAGES)
    assert [(r.path, r.query) for r in openai_upstream.requests] == [
        ("/v1/chat/completions", "api-version=2024-10-21"),
        ("/v1/models", "api-version=2024-10-21"),
        ("/v1/chat/completions", "api-version=2024-10-21"),
    ]


async def test_acytoo_keeps_the_query(acytoo_server: AcytooTestServer) -> None:
    await Acytoo.create_async("", MESSAGES, url=acytoo_server.url + "/base/?tenant=a&x=1")
    assert acytoo_server.requests[0].path == "/base/api/completions?tenant=a&x=1"
