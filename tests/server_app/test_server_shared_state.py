"""Shared state in a real redis-server: one limit for two servers, fail-open, fail-closed, recovery."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import USER, Call, scripted

from acytoo.server import Backend, RateLimit
from acytoo.server.redis_state import RETRY_AFTER, RedisState
from servers.redis_server import RedisServer

SLOW = RateLimit(rate=1 / 3600, burst=3)  # three requests, then nothing for an hour


async def post(http: aiohttp.ClientSession, url: str, **body: object) -> int:
    async with http.post(f"{url}/api/completions", json={"messages": USER, **body}) as response:
        await response.read()
        return response.status


def metric(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


async def eventually(check, attempts: int = 200, pause: float = 0.05) -> bool:
    """Whether ``check()`` comes true within a bounded number of polls."""
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(pause)
    return False


async def test_two_servers_enforce_one_limit(redis_server: RedisServer, start_server, http) -> None:
    first = await start_server(Backend(scripted()), rate_limit=SLOW, redis_url=redis_server.url)
    second = await start_server(Backend(scripted()), rate_limit=SLOW, redis_url=redis_server.url)
    statuses = [await post(http, server.url) for server in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    assert await post(http, first.url) == 429
    async with http.get(f"{second.url}/metrics") as response:
        assert metric(await response.text(), "acytoo_rate_limit_rejections_total") == 1


async def test_failed_passwords_count_across_servers(
    redis_server: RedisServer, start_server, http
) -> None:
    servers = [
        await start_server(Backend(scripted()), password="pw", redis_url=redis_server.url)
        for _ in range(2)
    ]
    for attempt in range(10):
        assert await post(http, servers[attempt % 2].url, password="guess") == 401
    for server in servers:
        async with http.post(
            f"{server.url}/api/completions", json={"messages": USER, "password": "pw"}
        ) as response:
            assert response.status == 429  # even the right password, for now
            assert int(response.headers["Retry-After"]) >= 1
            assert "failed authentication" in (await response.json())["msg"]


async def test_upstream_keys_rotate_in_one_turn(
    redis_server: RedisServer, start_server, http
) -> None:
    calls: list[Call] = []
    backend = Backend(scripted(calls=calls), key_option="key")
    servers = [
        await start_server(backend, upstream_keys=("k1", "k2", "k3"), redis_url=redis_server.url)
        for _ in range(2)
    ]
    for index in range(6):
        assert await post(http, servers[index % 2].url) == 200
    assert [call.options["key"] for call in calls] == ["k1", "k2", "k3", "k1", "k2", "k3"]


async def test_redis_going_away_fails_open_then_recovers(
    redis_server: RedisServer, start_server, http, caplog
) -> None:
    limit = RateLimit(rate=1 / 3600, burst=50)
    server = await start_server(Backend(scripted()), rate_limit=limit, redis_url=redis_server.url)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await post(http, server.url) == 200
        assert await client.keys("acytoo:rate:*")
        redis_server.stop()
        caplog.set_level(logging.WARNING, logger="acytoo.server")
        for _ in range(5):
            assert await post(http, server.url) == 200  # still serving
        warnings = [r for r in caplog.records if "Redis" in r.getMessage()]
        assert len(warnings) == 1  # once a minute, not once a request
        assert "127.0.0.1" in warnings[0].getMessage()
        async with http.get(f"{server.url}/metrics") as response:
            assert metric(await response.text(), "acytoo_redis_errors_total") >= 1
        async with http.get(f"{server.url}/readyz") as response:
            assert response.status == 200  # Redis is not required

        redis_server.start()  # empty: persistence is off
        await client.aclose()
        client = aioredis.Redis.from_url(redis_server.url)

        async def back_in_redis() -> bool:
            assert await post(http, server.url) == 200
            return bool(await client.keys("acytoo:rate:*"))

        # Reconnects by itself: after RETRY_AFTER the next request uses Redis again.
        assert await eventually(back_in_redis, pause=RETRY_AFTER / 4)
    finally:
        await client.aclose()


async def test_redis_required_answers_503_while_it_is_down(
    redis_server: RedisServer, start_server, http
) -> None:
    server = await start_server(
        Backend(scripted()),
        rate_limit=RateLimit(rate=100, burst=100),
        redis_url=redis_server.url,
        redis_required=True,
    )
    assert await post(http, server.url) == 200
    async with http.get(f"{server.url}/readyz") as response:
        assert response.status == 200
        assert (await response.json())["checks"] == {"backend": True, "redis": True}
    redis_server.stop()
    async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
        assert response.status == 503
        body = await response.json()
        assert body["error"]["type"] == "server_error"
        assert body["error"]["request_id"] == response.headers["X-Request-Id"]
    async with http.get(f"{server.url}/readyz") as response:
        assert response.status == 503
        assert (await response.json())["checks"]["redis"] is False
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200  # alive, just not ready

    redis_server.start()

    async def served() -> bool:
        return await post(http, server.url) == 200

    assert await eventually(served, pause=RETRY_AFTER / 4)


async def test_redis_down_at_start_still_serves(
    redis_server: RedisServer, start_server, http
) -> None:
    redis_server.stop()
    server = await start_server(
        Backend(scripted()),
        rate_limit=RateLimit(rate=1 / 3600, burst=2),
        redis_url=redis_server.url,
    )
    # Per-process limits meanwhile: still limited, never unlimited.
    assert [await post(http, server.url) for _ in range(3)] == [200, 200, 429]


async def test_the_redis_password_never_appears_in_logs(caplog) -> None:
    state = RedisState("redis://user:hunter2@127.0.0.1:1/0")
    caplog.set_level(logging.WARNING, logger="acytoo.server")
    try:
        assert await state.acquire("rate:x", RateLimit(rate=1, burst=1)) == 0.0
    finally:
        await state.aclose()
    assert "hunter2" not in caplog.text
    assert "hunter2" not in state.url
    assert "127.0.0.1:1" in caplog.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379"])
def test_a_redis_url_must_be_one(url: str) -> None:
    from acytoo.errors import InvalidRequestError
    from acytoo.server import ServerConfig

    with pytest.raises(InvalidRequestError, match="redis://"):
        ServerConfig(redis_url=url)
