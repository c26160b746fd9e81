"""Transport options: time limits and the retry policy."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidRequestError

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "SHOULD_RETRY_HEADER",
    "RetryPolicy",
    "Timeout",
    "is_retryable_status",
    "should_retry_header",
]

DEFAULT_MAX_RETRIES = 2
SHOULD_RETRY_HEADER = "x-should-retry"
"""A service's verdict on retrying its error answer (``true``/``false``), as OpenAI sends it."""


@dataclass(frozen=True)
class Timeout:
    """Time limits of one request, in seconds (``None`` means no limit).

    ``connect`` bounds getting a connection: the wait for a free one when the
    pool is full (:func:`~acytoo.set_max_connections`) and establishing it (TCP,
    proxy and TLS) count together, as aiohttp's ``ClientTimeout.connect`` does;
    ``read`` bounds the silence between two chunks of the answer. There is no
    limit on the whole exchange: a long answer that keeps streaming is fine.
    """

    connect: float | None = 10.0
    read: float | None = 120.0

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if value is not None and not _positive_number(value):
                raise InvalidRequestError(f"timeout.{name} must be a positive number or None")

    @classmethod
    def coerce(cls, value: object) -> Timeout:
        """A :class:`Timeout` from ``None`` (defaults), a number (both limits) or a Timeout."""
        if value is None:
            return _DEFAULT_TIMEOUT if cls is Timeout else cls()
        if isinstance(value, Timeout):
            return value
        if _positive_number(value):
            seconds = float(value)  # type: ignore[arg-type]
            return cls(connect=seconds, read=seconds)
        raise InvalidRequestError(
            f"timeout must be a positive number of seconds or an acytoo.Timeout, not {value!r}"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed request again.

    Only failures before the first byte of the answer are retried:
    connection errors, timeouts, 408, 409, 429 and 5xx, unless the answer
    says otherwise with ``x-should-retry: true|false`` (an acytoo server that
    already retried its upstream says ``false``). The wait doubles from
    ``initial_delay`` up to ``max_delay``, minus up to 25 % jitter, unless the
    service sent ``Retry-After`` (honoured up to ``max_retry_after``).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidRequestError("max_retries must be an integer")
        if self.max_retries < 0:
            raise InvalidRequestError("max_retries must be >= 0")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not (_positive_number(value) or value == 0):
                raise InvalidRequestError(f"{name} must be a number >= 0")

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        retry_after = parse_retry_after(headers) if headers is not None else None
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return retry_after
        backoff = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return backoff * (1.0 - 0.25 * random.random())


def is_retryable_status(status: int) -> bool:
    """Statuses worth another attempt: rate limiting and server failures."""
    return status in (408, 409, 429) or status >= 500


def should_retry_header(headers: Mapping[str, str] | None) -> bool | None:
    """The ``x-should-retry`` verdict of an error answer, or ``None`` when it gives none."""
    if headers is None:
        return None
    value = headers.get(SHOULD_RETRY_HEADER)
    if value is None:
        return None
    value = value.strip().lower()
    return True if value == "true" else False if value == "false" else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            value = float(milliseconds) / 1000.0
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
    header = headers.get("retry-after")
    if header is None:
        return None
    try:
        value = float(header)
    except ValueError:
        parsed = email.utils.parsedate_tz(header)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return value if math.isfinite(value) else None


def _positive_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


_DEFAULT_TIMEOUT = Timeout()
