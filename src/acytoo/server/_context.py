"""Per-request context the server's modules share without passing it around.

Set by the operations middleware for each request; read by error bodies
(the request id), by log records and by the upstream-failure counter.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

__all__ = ["FAILURE_HOOK", "REQUEST_ID"]

REQUEST_ID: ContextVar[str | None] = ContextVar("acytoo_request_id", default=None)
"""The id of the request being answered (``X-Request-Id``)."""

FAILURE_HOOK: ContextVar[Callable[[BaseException], None] | None] = ContextVar(
    "acytoo_failure_hook", default=None
)
"""Called with each backend failure the server reports (counts it in the metrics)."""
