"""``acytoo serve``: the Acytoo protocol and OpenAI's Chat Completions in front of any provider.

>>> from acytoo.server import ServerConfig, run
>>> run(ServerConfig(port=8000))  # the offline assistant on 127.0.0.1:8000

Inside a program (tests, embedding)::

    async with serve(ServerConfig(port=0), backend) as server:
        ...  # server.url
"""

from .app import create_app, openapi_document
from .backends import LOCAL_MODEL, Backend, build_backend
from .config import ServerConfig
from .ratelimit import RateLimit, parse_rate_limit
from .runner import RunningServer, run, serve

__all__ = [
    "LOCAL_MODEL",
    "Backend",
    "RateLimit",
    "RunningServer",
    "ServerConfig",
    "build_backend",
    "create_app",
    "openapi_document",
    "parse_rate_limit",
    "run",
    "serve",
]
