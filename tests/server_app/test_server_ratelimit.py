"""Per-client token buckets: the arithmetic with a fake clock, then 429 over HTTP."""

from __future__ import annotations

import pytest
from server_helpers import USER, scripted

from acytoo.server import Backend, RateLimit, parse_rate_limit
from acytoo.server.ratelimit import RateLimiter, client_identity, key_identity


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
    limiter = RateLimiter(clock=clock)
    limit = RateLimit(rate=2.0, burst=3)
    assert [limiter.acquire("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a", limit) == pytest.approx(0.5)
    assert limiter.acquire("b", limit) == 0.0  # clients are independent
    clock.now += 0.5
    assert limiter.acquire("a", limit) == 0.0
    assert limiter.acquire("a", limit) == pytest.approx(0.5)
    clock.now += 100
    assert [limiter.acquire("a", limit) for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # capped


def test_peeking_does_not_take_a_token() -> None:
    limiter = RateLimiter(clock=Clock())
    limit = RateLimit(rate=1.0, burst=2)
    for _ in range(5):
        assert limiter.acquire("a", limit, consume=False) == 0.0
    assert [limiter.acquire("a", limit) for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a", limit, consume=False) == pytest.approx(1.0)


def test_memory_is_bounded_and_the_least_recent_client_is_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(max_keys=1_000, clock=clock)
    limit = RateLimit(rate=1 / 3600, burst=1)
    assert limiter.acquire("first", limit) == 0.0
    assert limiter.acquire("first", limit) > 0  # limited
    for client in range(1_000):
        assert limiter.acquire(str(client), limit) == 0.0
        assert len(limiter) <= 1_000
    # "first" was the least recently seen: evicted, so it starts afresh;
    # the most recent ones are still limited.
    assert limiter.acquire("first", limit) == 0.0
    assert limiter.acquire("999", limit) > 0


@pytest.mark.parametrize(
    ("remote", "prefix", "identity"),
    [
        ("192.0.2.7", 64, "ip:192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", 64, "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "ip:2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", 64, "ip:2001:db8:1:3::/64"),
        ("2001:db8:1:2:aaaa::1", 128, "ip:2001:db8:1:2:aaaa::1/128"),
        ("2001:db8:1:2:aaaa::1", 48, "ip:2001:db8:1::/48"),
        ("::ffff:192.0.2.7", 64, "ip:192.0.2.7"),
        ("fe80::1%eth0", 64, "ip:fe80::/64"),
        (None, 64, "ip:-"),
    ],
)
def test_client_identity_groups_ipv6_by_prefix(remote, prefix, identity) -> None:
    assert client_identity(remote, prefix) == identity


def test_key_identity_never_holds_the_secret() -> None:
    identity = key_identity("sk-very-secret")
    assert "sk-very-secret" not in identity
    assert identity == key_identity("sk-very-secret") != key_identity("other")
    assert key_identity("\ud800")  # a lone surrogate does not raise


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
