"""POST /api/completions, driven by the project's own Acytoo provider and raw HTTP."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from server_helpers import USER, AcytooUpstream, Call, drain, running_upstream, scripted

from acytoo import Acytoo, APIStatusError, AuthenticationError, IncompleteResponseError
from acytoo.errors import BadRequestError, RateLimitError
from acytoo.server import Backend, build_backend


def client(server_url: str, **options: object) -> type[Acytoo]:
    return Acytoo.configure(url=server_url, max_retries=0, **options)  # type: ignore[return-value]


async def test_streams_the_answer_as_plain_text(start_server, http) -> None:
    server = await start_server(Backend(scripted(("Hel", "lo ", "wörld"))))
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert await response.text() == "Hello wörld"
    assert await client(server.url).create_async("gpt-3.5-turbo", USER) == "Hello wörld"


async def test_each_chunk_is_sent_as_soon_as_it_arrives(start_server) -> None:
    gate = asyncio.Event()
    server = await start_server(Backend(scripted(("first", " second"), gate=gate)))
    chunks = client(server.url).create_async_generator("gpt-3.5-turbo", USER)
    try:
        # The backend holds " second" until the gate opens: "first" must not wait for it.
        assert await asyncio.wait_for(anext(chunks), 10) == "first"
        gate.set()
        assert await asyncio.wait_for(anext(chunks), 10) == " second"
    finally:
        await chunks.aclose()


async def test_multibyte_characters_survive_any_chunking(start_server) -> None:
    text = "日本語のテキスト🙂" * 50
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    server = await start_server(Backend(scripted(pieces)))
    assert await client(server.url).create_async("", USER) == text


async def test_empty_answer_is_an_empty_200(start_server, http) -> None:
    server = await start_server(Backend(scripted(())))
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_request_fields_reach_the_backend(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(Backend(scripted(calls=calls), key_option="key"))
    messages = [
        {"role": "system", "content": "Be brief.", "createdAt": 1700000000},
        {"role": "user", "content": "Hi", "id": "abc"},
    ]
    await client(server.url).create_async("gpt-4", messages, temperature=0.7)
    (call,) = calls
    assert call.model == "gpt-4"
    # Extra per-message fields are dropped; only role and content go upstream.
    assert call.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert call.options == {"temperature": 0.7}


async def test_missing_model_means_gpt_35_turbo_or_the_configured_default(
    start_server, http
) -> None:
    calls: list[Call] = []
    plain = await start_server(Backend(scripted(calls=calls)))
    configured = await start_server(Backend(scripted(calls=calls)), default_model="llama3")
    for server in (plain, configured):
        for body in ({"messages": USER}, {"messages": USER, "model": ""}):
            async with http.post(f"{server.url}/api/completions", json=body) as response:
                assert response.status == 200
    assert [call.model for call in calls] == ["gpt-3.5-turbo"] * 2 + ["llama3"] * 2


async def test_missing_temperature_leaves_the_backend_default(start_server, http) -> None:
    calls: list[Call] = []
    server = await start_server(Backend(scripted(calls=calls)))
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 200
    assert "temperature" not in calls[0].options


async def test_model_allow_list(start_server) -> None:
    server = await start_server(Backend(scripted()), allowed_models=("gpt-3.5-turbo", "gpt-4"))
    assert await client(server.url).create_async("gpt-4", USER) == "Hello, world"
    with pytest.raises(BadRequestError) as caught:
        await client(server.url).create_async("llama3", USER)
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["msg"] == "Not supported model llama3"


@pytest.mark.parametrize("password", [None, "", "wrong", "s3cret "])
async def test_wrong_or_missing_password_is_401(start_server, password) -> None:
    server = await start_server(Backend(scripted()), password="s3cret")
    options = {} if password is None else {"password": password}
    with pytest.raises(AuthenticationError) as caught:
        await client(server.url, **options).create_async("", USER)
    body = json.loads(caught.value.body)
    assert body["msg"] == "No password or wrong password"
    assert body["error"]["message"] == "No password or wrong password"
    assert body["error"]["type"] == "authentication_error"


async def test_a_status_error_carries_the_servers_request_id(start_server) -> None:
    # The real server names each request (X-Request-Id, also in its logs); the
    # client's error keeps it, as the openai SDK's errors do.
    server = await start_server(Backend(scripted()), password="s3cret")
    with pytest.raises(AuthenticationError) as caught:
        await client(server.url, password="wrong").create_async("", USER)
    request_id = caught.value.request_id
    assert request_id
    assert request_id == caught.value.headers["X-Request-Id"]


async def test_right_password_and_api_keys_open_the_endpoint(start_server) -> None:
    server = await start_server(Backend(scripted()), password="s3cret", api_keys=("k-1",))
    for secret in ("s3cret", "k-1"):
        assert await client(server.url, password=secret).create_async("", USER) == "Hello, world"


async def test_password_is_checked_before_the_model(start_server, http) -> None:
    server = await start_server(Backend(scripted()), password="pw", allowed_models=("a",))
    body = {"messages": USER, "model": "b", "password": "nope"}
    async with http.post(f"{server.url}/api/completions", json=body) as response:
        assert response.status == 401
    body["password"] = "pw"
    async with http.post(f"{server.url}/api/completions", json=body) as response:
        assert response.status == 400
        assert (await response.json())["msg"] == "Not supported model b"


async def test_password_is_not_needed_when_none_is_configured(start_server) -> None:
    server = await start_server(Backend(scripted()))
    assert await client(server.url, password="anything").create_async("", USER) == "Hello, world"


async def test_server_keys_rotate_round_robin(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(
        Backend(scripted(calls=calls), key_option="api_key"), upstream_keys=("k1", "k2", "k3")
    )
    for _ in range(4):
        await client(server.url).create_async("", USER)
    assert [call.options["api_key"] for call in calls] == ["k1", "k2", "k3", "k1"]


async def test_server_keys_random_selection_stays_in_the_set(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(
        Backend(scripted(calls=calls), key_option="key"),
        upstream_keys=("k1", "k2"),
        key_selection="random",
    )
    for _ in range(6):
        await client(server.url).create_async("", USER)
    assert {call.options["key"] for call in calls} <= {"k1", "k2"}


async def test_client_key_replaces_the_server_key_for_that_request(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(
        Backend(scripted(calls=calls), key_option="key"), upstream_keys=("server-key",)
    )
    await client(server.url, key="sk-client").create_async("", USER)
    await client(server.url).create_async("", USER)
    assert [call.options["key"] for call in calls] == ["sk-client", "server-key"]


async def test_client_keys_can_be_disabled(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(
        Backend(scripted(calls=calls), key_option="key"),
        upstream_keys=("server-key",),
        allow_client_keys=False,
    )
    await client(server.url, key="sk-client").create_async("", USER)
    assert calls[0].options["key"] == "server-key"


async def test_no_key_anywhere_sends_none(start_server) -> None:
    calls: list[Call] = []
    server = await start_server(Backend(scripted(calls=calls), key_option="key"))
    await client(server.url).create_async("", USER)
    assert "key" not in calls[0].options


@pytest.mark.parametrize(
    ("status", "error_class"), [(401, AuthenticationError), (429, RateLimitError), (503, None)]
)
async def test_upstream_status_is_passed_through(start_server, status, error_class) -> None:
    upstream_error = json.dumps({"error": {"message": f"upstream {status}", "type": "x"}})
    async with running_upstream(AcytooUpstream(status=status, error_body=upstream_error)) as up:
        server = await start_server(build_backend("acytoo", [up.url], max_retries=0))
        with pytest.raises(APIStatusError) as caught:
            # The client's own key went upstream: a 401 is the client's to fix.
            await client(server.url).create_async("", USER, key="client-key")
    assert caught.value.status == status
    if error_class is not None:
        assert isinstance(caught.value, error_class)
    body = json.loads(caught.value.body)
    assert body["msg"] == f"upstream {status}"
    assert body["error"]["code"] == status


async def test_unreachable_upstream_is_502(start_server, refused_port: int) -> None:
    backend = build_backend("acytoo", [f"http://127.0.0.1:{refused_port}"], max_retries=0)
    server = await start_server(backend)
    with pytest.raises(APIStatusError) as caught:
        await client(server.url).create_async("", USER)
    assert caught.value.status == 502
    assert "upstream unreachable" in json.loads(caught.value.body)["msg"]


async def test_failure_before_any_text_is_an_http_error(start_server) -> None:
    server = await start_server(Backend(scripted(fail_before=RuntimeError("boom"))))
    with pytest.raises(APIStatusError) as caught:
        await client(server.url).create_async("", USER)
    assert caught.value.status == 500
    # The server's internals stay out of the answer.
    assert "boom" not in caught.value.body


async def test_failure_after_text_leaves_the_body_incomplete(start_server, http) -> None:
    server = await start_server(
        Backend(scripted(("partial ", "text"), fail_after=RuntimeError("boom")))
    )
    received: list[str] = []
    with pytest.raises(IncompleteResponseError):
        await drain(client(server.url).create_async_generator("", USER), received)
    assert "".join(received) == "partial text"
    # The server keeps serving.
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200


async def test_relay_to_another_acytoo_server(start_server) -> None:
    async with running_upstream(AcytooUpstream()) as upstream:
        server = await start_server(
            build_backend("acytoo", [upstream.url], max_retries=0), upstream_keys=("k",)
        )
        text = await client(server.url).create_async("", USER, temperature=1.5)
    assert text == "Hello from upstream"
    (sent,) = upstream.requests
    assert sent["key"] == "k"
    assert sent["temperature"] == 1.5
    assert sent["messages"] == USER


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_are_405_with_json(start_server, http, method) -> None:
    server = await start_server(Backend(scripted()))
    async with http.request(method, f"{server.url}/api/completions") as response:
        assert response.status == 405
        body = await response.json()
        assert body["msg"] == body["error"]["message"] == f"method {method} not allowed"
        assert "POST" in response.headers["Allow"]


async def test_unknown_path_is_404_with_json(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    async with http.get(f"{server.url}/nowhere") as response:
        assert response.status == 404
        assert (await response.json())["error"]["message"] == "Not Found"


async def test_http_10_client_gets_the_body_ended_by_close(start_server) -> None:
    server = await start_server(Backend(scripted(("a", "b", "c"))))
    body = json.dumps({"messages": USER}).encode()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(
            b"POST /api/completions HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        raw = await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert b"transfer-encoding" not in head.lower()
    assert payload == b"abc"


async def test_health_and_openapi(start_server, http) -> None:
    server = await start_server(Backend(scripted(name="Named")))
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
        assert (await response.json())["backend"] == "Named"
    async with http.get(f"{server.url}/openapi.json") as response:
        document = await response.json()
    assert set(document["paths"]) == {
        "/api/completions",
        "/api/render",
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    }


async def test_access_log_has_no_contents_or_secrets(start_server, caplog) -> None:
    caplog.set_level("INFO", logger="acytoo.server")
    server = await start_server(
        Backend(scripted(fail_after=RuntimeError("secret-in-error"))), password="pw-secret"
    )
    messages = [{"role": "user", "content": "private-content"}]
    with pytest.raises(aiohttp.ClientError):
        await client(server.url, password="pw-secret", key="sk-secret").create_async("", messages)
    with pytest.raises(AuthenticationError):
        await client(server.url, password="wrong-secret").create_async("", messages)
    access = [r.getMessage() for r in caplog.records if r.name == "acytoo.server.access"]
    assert any('"POST /api/completions" 200' in line for line in access)
    assert any('"POST /api/completions" 401' in line for line in access)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("private-content", "pw-secret", "sk-secret", "wrong-secret", "secret-in-error"):
        assert secret not in logged
