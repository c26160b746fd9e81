"""A property of the /v1 relay: for any valid request body, what the upstream receives is
what the client sent, changed by exactly the documented rewrites (docs/server.md): a
missing ``model`` becomes the server's default, an aliased one the upstream's name. A
body that names a model that is not an alias arrives byte for byte."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import server_in_thread

from acytoo.server import ServerConfig, build_backend
from servers._scripted import running_threaded
from servers.openai_upstream import OpenAIUpstream

DEFAULT_MODEL = "the-default-model"
ALIAS = ("fast", "the-upstream-name-of-fast")
# Loopback only: no proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
KNOWN = {"model", "messages", "stream", "stream_options", "n", "temperature", "max_tokens"}

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
parts = st.lists(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, text),
        st.builds(
            lambda u, d: {"type": "image_url", "image_url": {"url": u, **d}},
            text,
            st.dictionaries(st.just("detail"), st.sampled_from(["low", "high"])),
        ),
    ),
    min_size=1,
    max_size=3,
)
content = text | parts
tool_call = st.builds(
    lambda i, name, args: {
        "id": i,
        "type": "function",
        "function": {"name": name, "arguments": args},
    },
    text,
    text,
    text,
)
message = st.one_of(
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["system", "user"]), content),
    st.builds(lambda c, n: {"role": "developer", "content": c, "name": n}, content, text),
    st.builds(lambda c: {"role": "assistant", "content": c}, content),
    st.builds(
        lambda calls: {"role": "assistant", "content": None, "tool_calls": calls},
        st.lists(tool_call, min_size=1, max_size=2),
    ),
    st.builds(lambda i, c: {"role": "tool", "tool_call_id": i, "content": c}, text, content),
)
known_fields = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["gpt-4o", "llama3", "m/ü", ALIAS[0]]),
        "stream": st.booleans(),
        "n": st.integers(1, 3),
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 10_000),
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}),
        "tools": st.lists(json_values, max_size=2),
        "seed": st.integers(-(2**31), 2**31),
        "user": text,
        "stop": st.lists(text, max_size=4),
    },
)
# Fields acytoo has never heard of: tomorrow's parameters.
unknown_fields = st.dictionaries(
    text.filter(lambda key: key not in KNOWN and key != "messages"), json_values, max_size=3
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = {**draw(unknown_fields), **draw(known_fields)}
    body["messages"] = draw(st.lists(message, min_size=1, max_size=4))
    return body


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[str, OpenAIUpstream]]:
    with running_threaded(OpenAIUpstream, "property-upstream") as upstream:
        backend = build_backend("openai", [upstream.base_url], max_retries=0)
        config = ServerConfig(
            port=0, grace_period=1.0, default_model=DEFAULT_MODEL, model_aliases=(ALIAS,)
        )
        with server_in_thread(config, backend) as url:
            yield url, upstream


@given(body=bodies(), indent=st.sampled_from([None, 1]))
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_upstream_receives_what_the_client_sent(
    relay: tuple[str, OpenAIUpstream], body: dict[str, Any], indent: int | None
) -> None:
    url, upstream = relay
    raw = json.dumps(body, indent=indent, ensure_ascii=indent is None).encode()
    before = len(upstream.chat_requests)
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", data=raw, headers={"Content-Type": "application/json"}
    )
    # A status other than 200 raises HTTPError, showing the server's error body.
    with _DIRECT.open(request, timeout=30) as response:
        response.read()
    received = upstream.chat_requests[before]
    if body.get("model") == ALIAS[0]:
        assert received.json == {**body, "model": ALIAS[1]}
    elif "model" in body:
        assert received.body == raw
    else:
        assert received.json == {"model": DEFAULT_MODEL, **body}
