"""Prometheus metrics of one server (``GET /metrics``), with prometheus-client.

With several workers (``PROMETHEUS_MULTIPROC_DIR`` set by the supervisor
before any worker starts) every process writes its values to files there and
a scrape of any worker adds them all up: prometheus-client's multiprocess
mode. Alone, the server keeps them in a registry of its own (so several
servers in one process, as in tests, never mix).

prometheus-client is imported here only, when a server is created.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .._base_errors import AllProvidersFailedError
from ..errors import APIStatusError

__all__ = ["CONTENT_TYPE", "Metrics", "multiprocess_mode"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; an answer can take minutes, its first text a few seconds.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FIRST_CHUNK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def multiprocess_mode() -> bool:
    """Whether values go to the files of ``PROMETHEUS_MULTIPROC_DIR`` (several workers)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The server's counters, gauges and histograms; :meth:`render` is the scrape."""

    content_type = CONTENT_TYPE

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "acytoo_requests",
            "Requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "acytoo_request_duration_seconds",
            "Time from the request to the end of its answer.",
            ["endpoint"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.first_chunk = Histogram(
            "acytoo_time_to_first_chunk_seconds",
            "Time from a completion request to its first text (its 200 headers go with it).",
            ["endpoint"],
            buckets=_FIRST_CHUNK_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "acytoo_streams_in_flight",
            "Completions being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.upstream_errors = Counter(
            "acytoo_upstream_errors",
            "Backend failures the server reported, by kind and upstream.",
            ["kind", "upstream"],
            registry=registry,
        )
        self.relayed_bytes = Counter(
            "acytoo_relayed_bytes",
            "Bytes written to clients for completions (headers and chunk framing included).",
            ["endpoint"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "acytoo_rate_limit_rejections",
            "Requests refused with 429 by the per-client rate limit.",
            registry=registry,
        )
        self.auth_rejections = Counter(
            "acytoo_auth_rejections",
            "Requests refused for authentication: wrong_secret (401) or too_many_failures (429).",
            ["reason"],
            registry=registry,
        )
        self.redis_errors = Counter(
            "acytoo_redis_errors",
            "Redis operations that failed (the server fell back or answered 503).",
            registry=registry,
        )

    def count_redis_error(self) -> None:
        self.redis_errors.inc()

    def count_upstream_failure(self, exc: BaseException) -> None:
        """Count ``exc`` (each upstream's own failure when a failover list failed)."""
        if isinstance(exc, AllProvidersFailedError):
            for name, error in exc.errors:
                self.upstream_errors.labels(_kind(error), name).inc()
        else:
            self.upstream_errors.labels(_kind(exc), self.backend).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this server (every worker's, with workers)."""
        if multiprocess_mode():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def _kind(exc: BaseException) -> str:
    if isinstance(exc, APIStatusError):
        return f"http_{exc.status}"
    return type(exc).__name__
