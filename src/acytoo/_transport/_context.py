"""Headers added to every request the transport sends in the current context.

The server sets ``X-Request-Id`` here for the request it is answering, so
the upstream can log the same id; providers never see it. A context
variable follows the request into the tasks it starts (the chunk pump).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

__all__ = ["EXTRA_HEADERS", "with_extra_headers"]

EXTRA_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar(
    "acytoo_extra_headers", default=None
)


def with_extra_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus the context's extra ones (a provider's own headers win)."""
    merged = dict(headers)
    extra = EXTRA_HEADERS.get()
    if extra:
        for name, value in extra.items():
            merged.setdefault(name, value)
    return merged
