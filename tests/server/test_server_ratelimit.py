"""Per-client token buckets: the arithmetic with a fake clock, then 429 over HTTP."""

from __future__ import annotations

import pytest
from server_helpers import USER, scripted

from acytoo.server import Backend, RateLimit, parse_rate_limit
from acytoo.server.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate", "burst"),
    [
        ("10/s", 10.0, 10),
        ("10/sec,burst=20", 10.0, 20),
        ("600/min", 10.0, 10),
        ("60/minute, burst=5", 1.0, 5),
        ("1/m", 1 / 60, 1),
        ("3600/hour,burst=1", 1.0, 1),
        ("0.5/s", 0.5, 1),
        (" 2 / S ", 2.0, 2),
    ],
)
def test_parse_rate_limit(text: str, rate: float, burst: int) -> None:
    limit = parse_rate_limit(text)
    assert limit.rate == pytest.approx(rate)
    assert limit.burst == burst


@pytest.mark.parametrize("text", ["", "10", "ten/s", "10/day", "0/s", "10/s,burst=0", "-1/s"])
def test_parse_rate_limit_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        parse_rate_limit(text)


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=2.0, burst=3), clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # clients are independent
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 100
    assert [limiter.acquire("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # capped at burst


def test_idle_buckets_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(rate=1.0, burst=1), clock=clock)
    for client in range(10_001):
        limiter.acquire(str(client))
    clock.now += 10
    limiter.acquire("new")
    assert len(limiter._buckets) < 10


async def test_over_the_limit_is_429_with_retry_after(start_server, http) -> None:
    server = await start_server(Backend(scripted()), rate_limit=RateLimit(rate=1 / 3600, burst=2))
    url = f"{server.url}/api/completions"
    for _ in range(2):
        async with http.post(url, json={"messages": USER}) as response:
            assert response.status == 200
    async with http.post(url, json={"messages": USER}) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 3000
        body = await response.json()
        assert "rate limit" in body["msg"]
        assert body["error"]["type"] == "rate_limit_error"
    async with http.get(f"{server.url}/v1/models") as response:
        assert response.status == 429
        assert set(await response.json()) == {"error"}
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200  # health checks are never limited


async def test_no_limit_by_default(start_server, http) -> None:
    server = await start_server(Backend(scripted()))
    for _ in range(30):
        async with http.post(f"{server.url}/api/completions", json={"messages": USER}) as response:
            assert response.status == 200
