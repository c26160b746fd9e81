"""Keeping web pages from using the server behind its operator's back.

Any page a browser shows can send requests to a server on the user's own
machine: a ``text/plain`` POST needs no CORS preflight, so without these
checks a page could spend the operator's upstream key, and by re-pointing its
own host name at 127.0.0.1 (DNS rebinding) even read the answers. Two checks
and a CORS policy, all decided from the request's headers:

- **Host.** A server bound to a loopback address answers only requests whose
  ``Host`` is a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, any
  port) or one of ``allowed_hosts``; others get 421. A rebinding page still
  sends its own name (``Host: evil.example``), so it is refused. Bound
  elsewhere, the check applies only when ``allowed_hosts`` is given.
- **Origin.** A request that carries ``Origin`` (browsers add it to
  cross-origin requests and to every POST) must come from the server's own
  origin (the authority in ``Origin`` equals ``Host``) or one of
  ``allow_origins`` (``*``: any); others get 403. Requests without ``Origin``
  (SDKs, curl, scripts) are unaffected.
- **CORS.** Allowed origins get ``Access-Control-Allow-Origin`` on every
  answer, streamed ones included, and ``OPTIONS`` preflights are answered 204.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from .._base_errors import InvalidRequestError
from .errors import RequestError

__all__ = ["BrowserPolicy", "check_origin_setting"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
_ORIGIN = re.compile(r"^(https?)://([a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A list of header names as Access-Control-Request-Headers carries it.
_HEADER_LIST = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$")
_ALLOW_METHODS = "GET, POST, OPTIONS"
_ALLOW_HEADERS = "Authorization, Content-Type"
_EXPOSE_HEADERS = "Retry-After, WWW-Authenticate, X-Request-Id"
_PREFLIGHT_MAX_AGE = "600"


def check_origin_setting(origin: str) -> str:
    """``origin`` as the allow-list keeps it (``scheme://host[:port]``, lower case,
    default port dropped), or :class:`InvalidRequestError`. ``*`` and ``null`` pass as is."""
    text = origin.strip().lower().rstrip("/")
    if text in ("*", "null"):
        return text
    match = _ORIGIN.match(text)
    if match is None:
        raise InvalidRequestError(
            f"{origin!r} is not an origin: write scheme://host[:port] "
            "(such as https://chat.example.com), 'null' or '*'"
        )
    return _normalized(match)


def _normalized(match: re.Match[str]) -> str:
    scheme, host, port = match.groups()
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _host_name(host: str) -> str:
    """The name part of a ``Host`` header: no port, lower case, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, _, port = host.rpartition(":")
    if name and port.isdigit():
        host = name
    return host.rstrip(".")


def _is_loopback_literal(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _shown(value: str) -> str:
    """A header value quoted for an error message: printable ASCII only, bounded."""
    if value.isascii() and value.isprintable() and len(value) <= 100:
        return repr(value)
    return "(not shown: too long or not printable ASCII)"


@dataclass(frozen=True)
class BrowserPolicy:
    """The Host and Origin checks of one server, and its CORS answers."""

    allow_origins: frozenset[str]
    allowed_hosts: frozenset[str] | None
    """Host names accepted; ``None``: any."""

    @classmethod
    def build(
        cls, bound_host: str, allow_origins: Iterable[str], allowed_hosts: Iterable[str]
    ) -> BrowserPolicy:
        """The policy of a server listening on ``bound_host``."""
        origins = frozenset(check_origin_setting(origin) for origin in allow_origins)
        names = frozenset(_host_name(host) for host in allowed_hosts)
        if "*" in names or not (names or _is_loopback_bind(bound_host)):
            return cls(origins, None)
        # Loopback names are always safe: a rebinding page sends its own name.
        names |= _LOOPBACK_NAMES
        if not _is_unspecified(bound_host):
            # The address it listens on is a name it answers for (127.0.0.2, a LAN address).
            names |= {_host_name(f"[{bound_host}]" if ":" in bound_host else bound_host)}
        return cls(origins, names)

    def middleware(self) -> Middleware:
        """The checks, and the preflight answer, as an aiohttp middleware."""

        @web.middleware
        async def browser_checks(request: web.Request, handler: Handler) -> web.StreamResponse:
            self._check_host(request)
            origin = request.headers.get("Origin")
            if origin is not None:
                self._check_origin(origin, request)
                if (
                    request.method == "OPTIONS"
                    and "Access-Control-Request-Method" in request.headers
                ):
                    return self._preflight(request)
            return await handler(request)

        return browser_checks

    async def add_cors_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """``on_response_prepare``: CORS headers for an allowed origin (checked already)."""
        origin = request.headers.get("Origin")
        if origin is None or response.status in (403, 421) or not self._allowed(origin, request):
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        vary = response.headers.get("Vary")
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"

    def _check_host(self, request: web.Request) -> None:
        if self.allowed_hosts is None:
            return
        host = request.headers.get("Host")
        # No Host at all: not a browser (every browser sends it), so no rebinding.
        if host is None:
            return
        name = _host_name(host)
        if name in self.allowed_hosts or _is_loopback_literal(name):
            return
        raise RequestError(
            421,
            f"host {_shown(host)} is not served here; the operator can allow it "
            "with --allowed-host",
            type="invalid_request_error",
            code="host_not_allowed",
        )

    def _check_origin(self, origin: str, request: web.Request) -> None:
        if self._allowed(origin, request):
            return
        raise RequestError(
            403,
            f"origin {_shown(origin)} is not allowed; the operator can allow it "
            "with --allow-origin",
            type="permission_error",
            code="origin_not_allowed",
        )

    def _allowed(self, origin: str, request: web.Request) -> bool:
        if "*" in self.allow_origins:
            return True
        text = origin.strip().lower()
        match = _ORIGIN.match(text)
        if match is None:
            # "null" (sandboxed frames, file: pages) or garbage: only when listed.
            return text in self.allow_origins
        normalized = _normalized(match)
        return normalized in self.allow_origins or _same_origin(match, request)

    @staticmethod
    def _preflight(request: web.Request) -> web.Response:
        requested = request.headers.get("Access-Control-Request-Headers", "").strip()
        # The origin is trusted by now: let it send the headers it asks for
        # (the OpenAI SDK adds several x-stainless-* ones), if they are names.
        allow_headers = requested if _HEADER_LIST.match(requested) else _ALLOW_HEADERS
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": _ALLOW_METHODS,
                "Access-Control-Allow-Headers": allow_headers,
                "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
            },
        )


def _same_origin(origin: re.Match[str], request: web.Request) -> bool:
    """Whether the page was loaded from this server: the authority in ``Origin`` is
    the ``Host`` the browser sent (both omit the scheme's default port).

    The scheme is not compared: behind a TLS proxy the page is https while the
    server speaks http.
    """
    host = request.headers.get("Host")
    if host is None:
        return False
    scheme, name, port = origin.groups()
    host = host.strip().lower()
    authority = name if port is None else f"{name}:{port}"
    return host == authority or (port is None and host == f"{name}:{_DEFAULT_PORTS[scheme]}")


def _is_unspecified(host: str) -> bool:
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _is_loopback_bind(host: str) -> bool:
    return host.lower() == "localhost" or _is_loopback_literal(host)
