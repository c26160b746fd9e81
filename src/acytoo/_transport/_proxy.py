"""Proxy selection: the caller's proxy, else the standard environment variables."""

from __future__ import annotations

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
    host = target.host or ""
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(target.scheme) or proxies.get("all")
