"""What the HTTP providers share: option parsing and URL checks."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from yarl import URL

from .._transport import DEFAULT_MAX_RETRIES, RetryPolicy, Timeout, TransportOptions
from .._urls import redact_url
from ..errors import InvalidRequestError

__all__ = ["TRANSPORT_OPTION_NAMES", "check_options", "parse_base_url", "transport_options"]

TRANSPORT_OPTION_NAMES = frozenset({"timeout", "max_retries", "retry_policy", "session"})


def transport_options(proxy: str | None, options: dict[str, Any]) -> TransportOptions:
    """Build :class:`TransportOptions` from a call's keyword arguments."""
    if "retry_policy" not in options and "session" not in options:
        # The usual call (a server relaying request after request) repeats
        # the same few settings: build them once.
        try:
            return _plain_options(
                proxy, options.get("timeout"), options.get("max_retries", DEFAULT_MAX_RETRIES)
            )
        except TypeError:
            pass  # unhashable (so invalid) values: the checks below say what is wrong
    retry = options.get("retry_policy")
    if retry is None:
        retry = RetryPolicy(max_retries=options.get("max_retries", DEFAULT_MAX_RETRIES))
    elif not isinstance(retry, RetryPolicy):
        raise InvalidRequestError("retry_policy must be an acytoo.RetryPolicy")
    elif "max_retries" in options:
        retry = RetryPolicy(
            max_retries=options["max_retries"],
            initial_delay=retry.initial_delay,
            max_delay=retry.max_delay,
            max_retry_after=retry.max_retry_after,
        )
    return TransportOptions(
        proxy=proxy,
        timeout=Timeout.coerce(options.get("timeout")),
        retry=retry,
        session=options.get("session"),
    )


@functools.lru_cache(maxsize=64, typed=True)
def _plain_options(proxy: str | None, timeout: object, max_retries: object) -> TransportOptions:
    return TransportOptions(
        proxy=proxy,
        timeout=Timeout.coerce(timeout),
        retry=RetryPolicy(max_retries=max_retries),  # type: ignore[arg-type]
    )


def check_options(provider: str, options: dict[str, Any], accepted: Iterable[str]) -> None:
    """Reject keyword arguments the provider does not understand."""
    known = set(accepted) | TRANSPORT_OPTION_NAMES
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidRequestError(
            f"{provider} got unexpected option(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(known))}"
        )


def parse_base_url(value: object, what: str = "url") -> URL:
    """An absolute http(s) URL, or :class:`InvalidRequestError`."""
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"{what} must be a non-empty string")
    try:
        url = URL(value)
    except ValueError as exc:
        shown = redact_url(value)
        raise InvalidRequestError(f"invalid {what} {shown!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        shown = redact_url(value)
        raise InvalidRequestError(
            f"{what} must be an absolute http:// or https:// URL, got {shown!r}"
        )
    return url


def join_path(base: URL, path: str) -> URL:
    """``base`` with ``path`` appended to its path.

    Keeps a base path such as ``/v1`` and the base's query string (Azure
    OpenAI's ``?api-version=`` must be on every request).
    """
    return base.with_path(base.path.rstrip("/") + "/" + path.lstrip("/"), keep_query=True)
