"""Failed-authentication limit and rate-limit identities, in one process's memory."""

from __future__ import annotations

import pytest
from server_helpers import USER, scripted

from acytoo.errors import InvalidRequestError
from acytoo.server import Backend, RateLimit, ServerConfig


async def post(http, url: str, **body: object) -> int:
    async with http.post(f"{url}/api/completions", json={"messages": USER, **body}) as response:
        await response.read()
        return response.status


async def models(http, url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{url}/v1/models", headers=headers) as response:
        await response.read()
        return response.status


async def test_wrong_passwords_are_limited_without_a_rate_limit(start_server, http) -> None:
    server = await start_server(Backend(scripted()), password="pw")
    assert [await post(http, server.url, password="guess") for _ in range(10)] == [401] * 10
    async with http.post(
        f"{server.url}/api/completions", json={"messages": USER, "password": "guess"}
    ) as response:
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 6
        assert (await response.json())["error"]["type"] == "rate_limit_error"
    assert await models(http, server.url, "pw") == 429  # both protocols, any secret
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{server.url}/metrics", headers={"Authorization": "Bearer pw"}) as r:
        assert r.status == 429


async def test_right_passwords_do_not_count(start_server, http) -> None:
    server = await start_server(Backend(scripted()), password="pw")
    for _ in range(15):
        assert await post(http, server.url, password="pw") == 200
    assert await post(http, server.url, password="guess") == 401


async def test_wrong_bearer_keys_count_as_failures(start_server, http) -> None:
    server = await start_server(
        Backend(scripted()), api_keys=("k1",), auth_limit=RateLimit(rate=1 / 3600, burst=3)
    )
    assert [await models(http, server.url, f"guess{i}") for i in range(4)] == [401] * 3 + [429]


async def test_a_valid_api_key_has_a_limit_of_its_own(start_server, http) -> None:
    server = await start_server(
        Backend(scripted()), api_keys=("k1", "k2"), rate_limit=RateLimit(rate=1 / 3600, burst=2)
    )
    # Same address, two keys: two budgets.
    assert [await models(http, server.url, "k1") for _ in range(3)] == [200, 200, 429]
    assert [await models(http, server.url, "k2") for _ in range(3)] == [200, 200, 429]
    # A made-up key is no way around the limit: it counts against the address
    # (as does the body's password, which the limit cannot see).
    assert await models(http, server.url, "made-up") == 401
    assert await post(http, server.url, password="k1") == 200
    assert await post(http, server.url, password="k1") == 429
    assert await models(http, server.url, "also-made-up") == 429


def test_a_rate_limit_with_workers_needs_redis() -> None:
    with pytest.raises(InvalidRequestError, match="--redis-url"):
        ServerConfig(rate_limit=RateLimit(rate=1, burst=1), workers=2)
    ServerConfig(rate_limit=RateLimit(rate=1, burst=1), workers=2, redis_url="redis://127.0.0.1")
    ServerConfig(workers=2)  # no rate limit: fine


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ipv6_prefix": 129}, "ipv6_prefix"),
        ({"workers": 0}, "workers"),
        ({"redis_required": True}, "redis_required"),
    ],
)
def test_config_rejects_nonsense(options, message) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        ServerConfig(**options)
