"""The server's settings, in one immutable value."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .._base_errors import InvalidRequestError
from .backends import Backend
from .connections import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT
from .ratelimit import RateLimit
from .security import check_origin_setting
from .validation import DEFAULT_MAX_BODY, DEFAULT_MAX_MESSAGES

__all__ = ["DEFAULT_AUTH_LIMIT", "ServerConfig"]

DEFAULT_AUTH_LIMIT = RateLimit(rate=10 / 60, burst=10)
"""Failed authentication: 10 wrong secrets per client, then one more every 6 s."""
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``acytoo serve`` can be told. Secrets are left out of ``repr``.

    ``backend`` defaults to the offline assistant. ``upstream_keys`` are the
    server's own upstream API keys, used in turn (``key_selection``) when a
    request brings none; ``allow_client_keys`` lets a request's own ``key``
    replace them for that request. ``password`` and ``api_keys`` are access
    secrets: when any is set, ``/api/completions`` wants one of them in its
    ``password`` field and ``/v1`` wants one as ``Authorization: Bearer``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    backend: Backend | None = None
    upstream_keys: tuple[str, ...] = field(default=(), repr=False)
    upstream_password: str | None = field(default=None, repr=False)
    """The password of a password-protected upstream Acytoo server (``--backend acytoo``)."""
    key_selection: Literal["round-robin", "random"] = "round-robin"
    allow_client_keys: bool = True
    default_model: str | None = None
    allowed_models: tuple[str, ...] = ()
    model_aliases: tuple[tuple[str, str], ...] = ()
    """``(name, upstream model)`` pairs: a client asking for ``name`` gets the upstream's
    ``upstream model``, and answers are labelled ``name`` again."""
    password: str | None = field(default=None, repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_body: int = DEFAULT_MAX_BODY
    max_messages: int = DEFAULT_MAX_MESSAGES
    rate_limit: RateLimit | None = None
    grace_period: float = 10.0
    access_log: bool = True
    upstream_connections: int = 1024
    """Most upstream connections at once (each relayed stream holds one); 0: no limit."""
    allow_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int | None = None
    web: bool = True
    """Serve the chat page at ``/`` (and ``POST /api/render``); ``False``: the API alone."""
    auth_limit: RateLimit = DEFAULT_AUTH_LIMIT
    """Wrong passwords/API keys allowed per client (then 429), with or without ``rate_limit``."""
    ipv6_prefix: int = 64
    """IPv6 clients are rate-limited by their network of this prefix length."""
    redis_url: str | None = field(default=None, repr=False)
    """Keep rate limits, failed-password counts and key rotation in this Redis."""
    redis_required: bool = False
    """Answer 503 instead of falling back to per-process limits when Redis is down."""
    workers: int = 1
    """Processes serving the port (:mod:`acytoo.server.workers`)."""
    metrics_public: bool = False
    """Serve ``/metrics`` without the access secret."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InvalidRequestError(f"port must be 0-65535, not {self.port}")
        if self.max_body < 1:
            raise InvalidRequestError("max_body must be at least 1 byte")
        if self.max_messages < 1:
            raise InvalidRequestError("max_messages must be at least 1")
        if not (math.isfinite(self.grace_period) and self.grace_period >= 0):
            raise InvalidRequestError("grace_period must be a number of seconds >= 0")
        if self.upstream_connections < 0:
            raise InvalidRequestError("upstream_connections must be >= 0")
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidRequestError(f"{name} must be a number of seconds > 0")
        if self.max_connections is not None and self.max_connections < 1:
            raise InvalidRequestError("max_connections must be at least 1")
        for origin in self.allow_origins:
            check_origin_setting(origin)
        if any(not host.strip() or "/" in host for host in self.allowed_hosts):
            raise InvalidRequestError("allowed hosts are host names such as chat.example.com")
        if self.key_selection not in ("round-robin", "random"):
            raise InvalidRequestError("key_selection must be 'round-robin' or 'random'")
        if any(not name or not model for name, model in self.model_aliases):
            raise InvalidRequestError("model aliases must be NAME=MODEL with neither empty")
        if any(not key for key in self.upstream_keys):
            raise InvalidRequestError("upstream keys must not be empty")
        if any(not key for key in self.api_keys) or self.password == "":
            raise InvalidRequestError("access secrets must not be empty")
        if self.upstream_password is not None:
            if not self.upstream_password:
                raise InvalidRequestError("the upstream password must not be empty")
            if self.backend is not None and self.backend.password_option is None:
                raise InvalidRequestError(
                    f"the {self.backend.name} backend takes no upstream password "
                    "(it is for --backend acytoo; an OpenAI-compatible upstream wants "
                    "--upstream-key)"
                )
        if not 0 <= self.ipv6_prefix <= 128:
            raise InvalidRequestError("ipv6_prefix must be 0-128")
        if self.workers < 1:
            raise InvalidRequestError("workers must be at least 1")
        if self.redis_url is not None and not self.redis_url.startswith(_REDIS_SCHEMES):
            raise InvalidRequestError(
                "the Redis URL must start with redis://, rediss:// or unix://"
            )
        if self.redis_required and not self.redis_url:
            raise InvalidRequestError("redis_required needs a Redis URL (--redis-url)")
        if self.rate_limit is not None and self.workers > 1 and not self.redis_url:
            raise InvalidRequestError(
                "--rate-limit with --workers > 1 needs --redis-url: without shared state "
                "each worker would enforce its own limit, multiplying it"
            )

    @property
    def access_secrets(self) -> tuple[str, ...]:
        """The password and API keys: any of them opens either endpoint."""
        return ((self.password,) if self.password else ()) + self.api_keys
