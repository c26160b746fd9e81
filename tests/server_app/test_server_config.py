"""Every ``ServerConfig`` check: a bad setting is a clear error, never a server that half works."""

from __future__ import annotations

import math
from typing import Any

import pytest

from acytoo import InvalidRequestError
from acytoo.server import ServerConfig
from acytoo.server.ratelimit import RateLimit


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"port": 99999}, "port must be 0-65535", id="port-too-high"),
        pytest.param({"port": -1}, "port must be 0-65535", id="port-negative"),
        pytest.param({"max_body": 0}, "max_body", id="max-body"),
        pytest.param({"max_messages": 0}, "max_messages", id="max-messages"),
        pytest.param({"grace_period": -1.0}, "grace_period", id="grace-negative"),
        pytest.param({"grace_period": math.nan}, "grace_period", id="grace-nan"),
        pytest.param({"grace_period": math.inf}, "grace_period", id="grace-inf"),
        pytest.param({"upstream_connections": -1}, "upstream_connections", id="connections"),
        pytest.param({"key_selection": "lottery"}, "key_selection", id="key-selection"),
        pytest.param({"upstream_keys": ("sk-1", "")}, "upstream keys", id="empty-upstream-key"),
        pytest.param({"api_keys": ("",)}, "access secrets", id="empty-api-key"),
        pytest.param({"password": ""}, "access secrets", id="empty-password"),
        pytest.param({"header_timeout": 0.0}, "header_timeout", id="header-timeout-zero"),
        pytest.param({"body_timeout": math.nan}, "body_timeout", id="body-timeout-nan"),
        pytest.param({"max_connections": 0}, "max_connections", id="max-connections"),
        pytest.param({"allowed_hosts": ("a/b",)}, "allowed hosts", id="allowed-host-path"),
        pytest.param({"model_aliases": (("fast", ""),)}, "model aliases", id="empty-alias"),
        pytest.param({"upstream_password": ""}, "upstream password", id="empty-upstream-pw"),
        pytest.param({"ipv6_prefix": 129}, "ipv6_prefix", id="ipv6-prefix"),
        pytest.param({"workers": 0}, "workers", id="workers-zero"),
        pytest.param({"redis_url": "http://r"}, "Redis URL", id="redis-scheme"),
        pytest.param({"redis_required": True}, "redis_required", id="redis-required-alone"),
        pytest.param(
            {"rate_limit": RateLimit(rate=1.0, burst=1), "workers": 2},
            "needs --redis-url",
            id="rate-limit-workers-without-redis",
        ),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        ServerConfig(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"port": 0},
        {"port": 65535},
        {"grace_period": 0.0},
        {"upstream_connections": 0},
        {"key_selection": "random"},
        {"password": "s3cret", "api_keys": ("k1", "k2")},
        {"ipv6_prefix": 0, "workers": 4},
        {"redis_url": "redis://127.0.0.1:6379/0", "redis_required": True},
        {"rate_limit": RateLimit(rate=1.0, burst=1), "workers": 2, "redis_url": "unix:///r.sock"},
    ],
)
def test_edge_values_are_accepted(settings: dict[str, Any]) -> None:
    ServerConfig(**settings)


def test_secrets_stay_out_of_repr() -> None:
    config = ServerConfig(password="pw-secret", api_keys=("api-secret",), upstream_keys=("sk-x",))
    text = repr(config)
    for secret in ("pw-secret", "api-secret", "sk-x"):
        assert secret not in text
    assert config.access_secrets == ("pw-secret", "api-secret")
