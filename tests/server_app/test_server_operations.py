"""Request ids, /metrics (parsed with prometheus-client's own parser), /readyz, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import USER, scripted

from acytoo import StreamError
from acytoo.server import Backend, build_backend
from acytoo.server.logs import JSONFormatter, _Context
from acytoo.server.operations import MAX_REQUEST_ID
from servers.openai_upstream import OpenAIUpstream


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123", True),
        ("x" * MAX_REQUEST_ID, True),
        ("x" * (MAX_REQUEST_ID + 1), False),
        ("has space", False),
        ("tab\tinside", False),
        ("caf\u00e9", False),
    ],
)
async def test_an_incoming_request_id_is_kept_when_short_and_printable(
    start_server, http, sent, kept
) -> None:
    server = await start_server(Backend(scripted()))
    headers = {"X-Request-Id": sent.encode("utf-8").decode("latin-1")}
    async with http.get(f"{server.url}/healthz", headers=headers) as response:
        returned = response.headers["X-Request-Id"]
    if kept:
        assert returned == sent
    else:
        assert returned != sent
        assert len(returned) == 32
        assert returned.isalnum()


async def test_every_response_and_error_body_carries_the_id(start_server, http) -> None:
    server = await start_server(Backend(scripted()), password="pw")
    seen = set()
    for method, path in (("GET", "/healthz"), ("GET", "/nowhere"), ("POST", "/api/completions")):
        async with http.request(method, f"{server.url}{path}", json={}) as response:
            request_id = response.headers["X-Request-Id"]
            seen.add(request_id)
            if response.status >= 400:
                assert (await response.json())["error"]["request_id"] == request_id
    assert len(seen) == 3  # a new one each time
    headers = {"X-Request-Id": "client-chosen"}
    async with http.get(f"{server.url}/v1/models", headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["error"]["request_id"] == "client-chosen"


async def test_the_id_is_sent_upstream_and_logged(
    openai_upstream: OpenAIUpstream, start_server, http, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="acytoo.server")
    server = await start_server(build_backend("openai", [openai_upstream.base_url]))
    async with http.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": USER},
        headers={"X-Request-Id": "trace-me-42"},
    ) as response:
        assert response.status == 200
        assert response.headers["X-Request-Id"] == "trace-me-42"
    assert openai_upstream.chat_requests[-1].headers["X-Request-Id"] == "trace-me-42"
    access = [r for r in caplog.records if r.name == "acytoo.server.access"]
    assert [r.request_id for r in access] == ["trace-me-42"]


async def test_metrics_count_requests_streams_bytes_and_failures(
    start_server, http, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="acytoo.server.access")
    server = await start_server(Backend(scripted(("Hello", " world"))))
    failing = await start_server(Backend(scripted(fail_before=StreamError("no"), name="Broken")))
    for _ in range(3):
        async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as r:
            assert await r.text() == "Hello world"
    async with http.post(f"{server.url}/api/completions", json={}) as response:
        assert response.status == 400
    async with http.post(f"{failing.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 502
    async with http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        scraped = samples(await response.text())
    endpoint = (("endpoint", "/api/completions"),)
    assert scraped[("acytoo_requests_total", (*endpoint, ("status", "200")))] == 3
    assert scraped[("acytoo_requests_total", (*endpoint, ("status", "400")))] == 1
    assert scraped[("acytoo_request_duration_seconds_count", endpoint)] == 4
    assert scraped[("acytoo_time_to_first_chunk_seconds_count", endpoint)] == 3  # answers
    # What was written, as the access log counts it (headers and chunk framing too).
    written = [
        r.bytes
        for r in caplog.records
        if getattr(r, "status", None) == 200 and r.path == "/api/completions"
    ]
    assert len(written) == 3
    assert min(written) > len("Hello world")
    assert scraped[("acytoo_relayed_bytes_total", endpoint)] == sum(written)
    assert scraped[("acytoo_streams_in_flight", ())] == 0
    # Each server has metrics of its own.
    assert not any(name == "acytoo_upstream_errors_total" for name, _ in scraped)
    async with http.get(f"{failing.url}/metrics") as response:
        failed = samples(await response.text())
    labels = (("kind", "StreamError"), ("upstream", "Broken"))
    assert failed[("acytoo_upstream_errors_total", labels)] == 1


async def test_metrics_need_the_secret_unless_public(start_server, http) -> None:
    server = await start_server(Backend(scripted()), password="pw", api_keys=("k1",))
    async with http.get(f"{server.url}/metrics") as response:
        assert response.status == 401
    async with http.get(f"{server.url}/metrics", headers={"Authorization": "Bearer k1"}) as r:
        assert r.status == 200
        scraped = samples(await r.text())
    reason = (("reason", "wrong_secret"),)
    assert scraped[("acytoo_auth_rejections_total", reason)] == 1
    public = await start_server(Backend(scripted()), password="pw", metrics_public=True)
    async with http.get(f"{public.url}/metrics") as response:
        assert response.status == 200


async def test_readyz_checks_the_upstream(
    openai_upstream: OpenAIUpstream, refused_port: int, start_server, http
) -> None:
    local = await start_server()
    async with http.get(f"{local.url}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready", "checks": {"backend": True}}
    reachable = await start_server(build_backend("openai", [openai_upstream.base_url]))
    async with http.get(f"{reachable.url}/readyz") as response:
        assert response.status == 200
    gone = await start_server(build_backend("openai", [f"http://127.0.0.1:{refused_port}/v1"]))
    async with http.get(f"{gone.url}/readyz") as response:
        assert response.status == 503
        assert await response.json() == {"status": "unavailable", "checks": {"backend": False}}
    async with http.get(f"{gone.url}/healthz") as response:
        assert response.status == 200
    failover = await start_server(
        build_backend("openai", [f"http://127.0.0.1:{refused_port}/v1", openai_upstream.base_url])
    )
    async with http.get(f"{failover.url}/readyz") as response:
        assert response.status == 200  # one upstream is enough


def test_json_log_lines_carry_the_fields() -> None:
    record = logging.LogRecord("acytoo.server.access", logging.INFO, "", 0, "x %s", ("y",), None)
    for name, value in {"request_id": "r1", "method": "POST", "path": "/v1/models"}.items():
        setattr(record, name, value)
    record.status, record.duration_ms, record.ttfb_ms = 200, 1.5, 0.5
    _Context().filter(record)
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "x y"
    assert line["worker"] == "main"
    assert line["level"] == "info"
    assert line["ts"].endswith("Z")
    assert {k: line[k] for k in ("request_id", "method", "path", "status")} == {
        "request_id": "r1",
        "method": "POST",
        "path": "/v1/models",
        "status": 200,
    }
    assert (line["duration_ms"], line["ttfb_ms"]) == (1.5, 0.5)


async def test_the_server_logs_json_lines_without_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["ACYTOO_SERVER_PASSWORD"] = "pw-secret"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acytoo.server",
        "--port",
        "0",
        "--log-format",
        "json",
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    try:
        url = None
        for _ in range(100):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            if line.startswith(b"listening on "):
                url = line.split()[-1].decode()
                break
        assert url is not None
        import aiohttp

        async with aiohttp.ClientSession() as http:
            body = {"messages": [{"role": "user", "content": "private-text"}], "password": "bad"}
            headers = {"X-Request-Id": "json-1"}
            async with http.post(f"{url}/api/completions", json=body, headers=headers) as r:
                assert r.status == 401
    finally:
        process.terminate()
        rest = await asyncio.wait_for(process.stderr.read(), 30)
        await process.wait()
    lines = [json.loads(line) for line in rest.decode().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "acytoo.server.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "json-1"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/api/completions", 401)
    assert entry["duration_ms"] >= 0
    assert entry["ttfb_ms"] >= 0
    assert {line["worker"] for line in lines} == {"main"}
    assert all({"ts", "level", "worker", "request_id", "message"} <= set(line) for line in lines)
    assert "private-text" not in rest.decode()
    assert "pw-secret" not in rest.decode()
