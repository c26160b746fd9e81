"""Proxy selection: the caller's proxy, else the standard environment variables."""

from __future__ import annotations

import os
import urllib.request

from yarl import URL

from ..errors import InvalidRequestError

__all__ = ["HTTP_PROXY_SCHEMES", "SOCKS_PROXY_SCHEMES", "resolve_proxy"]

HTTP_PROXY_SCHEMES = frozenset({"http", "https"})
SOCKS_PROXY_SCHEMES = frozenset({"socks4", "socks4a", "socks5", "socks5h"})


def resolve_proxy(target: URL, proxy: str | None) -> URL | None:
    """The proxy to reach ``target`` through, or ``None`` for a direct connection.

    An explicit ``proxy`` wins; an empty string forces a direct connection.
    Otherwise ``<scheme>_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` decide, as
    curl and requests do.
    """
    if proxy is None:
        proxy = _proxy_from_environment(target)
    if not proxy:
        return None
    if not isinstance(proxy, str):
        raise InvalidRequestError(f"proxy must be a URL string, not {type(proxy).__name__}")
    try:
        url = URL(proxy)
    except ValueError as exc:
        raise InvalidRequestError(f"invalid proxy URL: {exc}") from None
    scheme = url.scheme.lower()
    if scheme not in HTTP_PROXY_SCHEMES | SOCKS_PROXY_SCHEMES or not url.host:
        raise InvalidRequestError(
            "proxy must look like http://[user:pass@]host:port or socks5://host:port"
        )
    return url


def _proxy_from_environment(target: URL) -> str | None:
    # Looks up only the variables that matter: urllib's getproxies_environment()
    # scans the whole environment, which cost more than the rest of a small
    # request's client-side work (see docs/benchmarks.md).
    proxy = _environment(f"{target.scheme}_proxy") or _environment("all_proxy")
    if not proxy:
        return None
    no_proxy = _environment("no_proxy")
    if no_proxy and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        target.host or "", {"no": no_proxy}
    ):
        return None
    return proxy


def _environment(name: str) -> str | None:
    """``name`` or its upper-case form; as in urllib, lower case wins, even when empty."""
    value = os.environ.get(name)
    if value is not None:
        return value or None
    value = os.environ.get(name.upper())
    if value and name == "http_proxy" and "REQUEST_METHOD" in os.environ:
        # CGI: HTTP_PROXY may have come from a client's "Proxy:" header (httpoxy).
        return None
    return value or None
