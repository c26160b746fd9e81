"""Timeout and RetryPolicy: validation and the retry schedule, table-driven."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

import pytest

from acytoo import InvalidRequestError, RetryPolicy, Timeout
from acytoo._transport._options import is_retryable_status, parse_retry_after


def test_timeout_defaults_have_no_total_cap() -> None:
    timeout = Timeout()
    assert timeout.connect == 10.0
    assert timeout.read == 120.0
    assert not hasattr(timeout, "total")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Timeout()),
        (5, Timeout(connect=5.0, read=5.0)),
        (0.25, Timeout(connect=0.25, read=0.25)),
        (Timeout(connect=1, read=None), Timeout(connect=1, read=None)),
    ],
)
def test_timeout_coerce(value: Any, expected: Timeout) -> None:
    assert Timeout.coerce(value) == expected


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, True, "5", [5]])
def test_timeout_coerce_rejects(value: Any) -> None:
    with pytest.raises(InvalidRequestError):
        Timeout.coerce(value)


@pytest.mark.parametrize(
    "kwargs",
    [{"connect": 0}, {"connect": -2}, {"read": math.nan}, {"read": False}, {"connect": "1"}],
)
def test_timeout_rejects_bad_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        Timeout(**kwargs)


def test_timeout_accepts_none_limits() -> None:
    assert Timeout(connect=None, read=None).read is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 1.0},
        {"max_retries": True},
        {"initial_delay": -0.1},
        {"max_delay": math.inf},
        {"max_retry_after": math.nan},
    ],
)
def test_retry_policy_rejects(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 0.375, 0.5), (1, 0.75, 1.0), (2, 1.5, 2.0), (3, 3.0, 4.0), (4, 6.0, 8.0), (9, 6.0, 8.0)],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    policy = RetryPolicy()
    delays = {policy.delay(attempt) for _ in range(50)}
    assert all(low <= d <= high for d in delays)
    assert len(delays) > 1  # jitter


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = parse_retry_after({"retry-after": future})
    assert value is not None
    assert 25 <= value <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected_range"),
    [
        ({"retry-after": "2"}, (2.0, 2.0)),
        ({"retry-after": "61"}, (0.375, 0.5)),  # above max_retry_after: back off instead
        ({"retry-after": "-1"}, (0.375, 0.5)),
        ({}, (0.375, 0.5)),
    ],
)
def test_delay_honours_retry_after_within_the_cap(
    headers: dict[str, str], expected_range: tuple[float, float]
) -> None:
    delay = RetryPolicy().delay(0, headers)
    assert expected_range[0] <= delay <= expected_range[1]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (200, False),
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (599, True),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
