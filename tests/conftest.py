"""Shared test fixtures: each group of local servers lives in its own tests/servers module."""

pytest_plugins = [
    "servers.acytoo_server",
    "servers.keepalive",
    "servers.openai_upstream",
    "servers.ports",
    "servers.proxies",
    "servers.raw_http",
    "servers.redis_server",
]
