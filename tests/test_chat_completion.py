"""``acytoo.ChatCompletion`` (gpt4free's facade), ``url``/``base_url`` on both HTTP
providers, and ``model`` given twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import acytoo
from acytoo import Acytoo, InvalidRequestError, Local, OpenAICompatible, RetryProvider
from servers.acytoo_server import AcytooTestServer, Reply
from servers.openai_upstream import OpenAIUpstream

USER: list[Any] = [{"role": "user", "content": "rate limit"}]


@pytest.fixture
def acytoo_serve(tmp_path: Path) -> Iterator[str]:
    """A real ``acytoo serve`` with the offline backend: its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACYTOO_", "OPENAI_"))}
    env = {k: v for k, v in env.items() if "proxy" not in k.lower()}
    process = subprocess.Popen(
        [sys.executable, "-m", "acytoo", "serve", "--port", "0", "--no-access-log"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stderr is not None
    try:
        url = None
        for _ in range(50):  # bounded: the ready line comes first
            line = process.stderr.readline()
            match = re.search(r"listening on (http://\S+)", line)
            if match or not line:
                url = match[1] if match else None
                break
        assert url is not None, "acytoo serve did not start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        process.stderr.close()


GPT4FREE_SCRIPT = """
import asyncio

import acytoo as g4f  # the only changed line: was `import g4f`

messages = [{"role": "user", "content": "How do I enable rate limiting?"}]

response = g4f.ChatCompletion.create(
    model="gpt-3.5-turbo",
    messages=messages,
    provider=g4f.Provider.Acytoo,
    stream=True,
)
chunks = [message for message in response]
print("chunks", len(chunks))
streamed = "".join(chunks)

whole = g4f.ChatCompletion.create(model="gpt-3.5-turbo", messages=messages)
print("same", whole == streamed)


async def main():
    return await g4f.ChatCompletion.create_async(
        model="gpt-3.5-turbo", messages=messages, provider=g4f.Provider.Acytoo
    )

print("async same", asyncio.run(main()) == streamed)
print(streamed.splitlines()[0])
"""


def test_a_gpt4free_script_runs_against_acytoo_serve(acytoo_serve: str, tmp_path: Path) -> None:
    script = tmp_path / "chat_g4f.py"
    script.write_text(textwrap.dedent(GPT4FREE_SCRIPT), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["ACYTOO_URL"] = acytoo_serve  # where the default Acytoo provider sends
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert int(lines[0].split()[1]) >= 1  # text chunks (the network may join them)
    assert lines[1:4] == ["same True", "async same True", "### Rate limiting"]


def test_create_streams_or_returns_the_whole_text(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    server = threaded_acytoo_server
    server.reply(Reply(chunks=[b"Hel", b"lo"]), Reply(chunks=[b"Hel", b"lo"]))
    provider = Acytoo.configure(url=server.url)
    stream = acytoo.ChatCompletion.create(
        "gpt-3.5-turbo", USER, provider=provider, stream=True, temperature=0.2
    )
    assert not isinstance(stream, str)
    assert "".join(stream) == "Hello"
    whole = acytoo.ChatCompletion.create(model="gpt-3.5-turbo", messages=USER, provider=provider)
    assert whole == "Hello"
    assert [request.path for request in server.requests] == ["/api/completions"] * 2


async def test_create_async_with_any_provider(openai_upstream: OpenAIUpstream) -> None:
    upstream = OpenAICompatible.configure(base_url=openai_upstream.base_url, api_key="")
    text = await acytoo.ChatCompletion.create_async("m", USER, provider=upstream)
    assert text == await upstream.create_async("m", USER)
    offline = await acytoo.ChatCompletion.create_async("", USER, provider=RetryProvider([Local]))
    assert offline.startswith("### Rate limiting")


def test_model_objects_with_a_name_are_accepted() -> None:
    class Model:
        name = "acytoo-docs-offline"

    text = acytoo.ChatCompletion.create(Model(), USER, provider=Local)
    assert text == acytoo.ChatCompletion.create("acytoo-docs-offline", USER, provider=Local)


def test_provider_namespace_is_the_providers_package() -> None:
    assert acytoo.Provider.Acytoo is Acytoo
    assert acytoo.Provider.OpenAICompatible is OpenAICompatible
    assert acytoo.Provider.Local is Local


# -- url and base_url --------------------------------------------------------------


async def test_acytoo_accepts_base_url(acytoo_server: AcytooTestServer) -> None:
    assert await Acytoo.create_async("", USER, base_url=acytoo_server.url) == "Hello"
    configured = Acytoo.configure(base_url=acytoo_server.url)
    assert configured.url == acytoo_server.url
    assert await configured.create_async("", USER) == "Hello"
    assert await Acytoo.create_async("", USER, url=acytoo_server.url) == "Hello"
    assert len(acytoo_server.requests) == 3


async def test_openai_compatible_accepts_url(openai_upstream: OpenAIUpstream) -> None:
    by_url = await OpenAICompatible.create_async(
        "m", USER, url=openai_upstream.base_url, api_key=""
    )
    configured = OpenAICompatible.configure(url=openai_upstream.base_url, api_key="")
    assert await configured.create_async("m", USER) == by_url
    assert await configured.list_models() == list(openai_upstream.models)
    assert len(openai_upstream.chat_requests) == 2


@pytest.mark.parametrize(
    ("provider", "options"),
    [
        (Acytoo, {"url": "http://127.0.0.1:1", "base_url": "http://127.0.0.1:2"}),
        (OpenAICompatible, {"url": "http://127.0.0.1:1/v1", "base_url": "http://127.0.0.1:2/v1"}),
    ],
)
async def test_both_spellings_with_different_values_is_an_error(
    provider: Any, options: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequestError, match="are the same option"):
        await provider.create_async("m", USER, **options)


# -- model given twice -------------------------------------------------------------


@pytest.mark.parametrize("provider", [Acytoo, OpenAICompatible, Local, RetryProvider([Local])])
async def test_model_given_twice_is_an_invalid_request(provider: Any) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape("model given twice: 'gpt-3.5-turbo'")):
        provider.create_async_generator("gpt-3.5-turbo", USER, model="gpt-4")
    with pytest.raises(InvalidRequestError, match="model given twice"):
        await provider.create_async("gpt-3.5-turbo", USER, model="gpt-4")
    with pytest.raises(InvalidRequestError, match="model given twice"):
        provider.create_completion("gpt-3.5-turbo", USER, model="gpt-4")


def test_model_by_keyword_alone_still_works() -> None:
    text = "".join(Local.create_completion(model="", messages=USER))
    assert text.startswith("### Rate limiting")
