"""The server's logs: text for people or one JSON object per line for machines.

Every record carries the worker that wrote it and the id of the request it
belongs to. Access lines add method, path (no query string), status, bytes,
duration and time to first chunk. Nothing here logs headers, bodies or
message contents, so no secrets and no conversations.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from ._context import REQUEST_ID

__all__ = [
    "FIRST_CHUNK",
    "REQUEST_ID_KEY",
    "STARTED",
    "AccessLogger",
    "JSONFormatter",
    "configure_logging",
    "request_key",
    "set_worker_name",
    "worker_name",
]

LogFormat = Literal["text", "json"]


def request_key(name: str) -> Any:
    """A key of the request's mapping: a typed ``web.RequestKey`` where aiohttp has them."""
    factory = getattr(web, "RequestKey", None)
    return name if factory is None else factory(name, object)


# Keys of the request mapping the operations middleware fills in.
REQUEST_ID_KEY = request_key("acytoo_request_id")
FIRST_CHUNK = request_key("acytoo_first_chunk")
"""Seconds from the request to its response headers (set when they are sent)."""
STARTED = request_key("acytoo_started")

_MAX_PATH = 200
_ACCESS_FIELDS = ("client", "method", "path", "status", "bytes", "duration_ms", "ttfb_ms")
_worker = "main"


def set_worker_name(name: str) -> None:
    """Name this process in every log line from now on (``w1``, ``w2``... for workers)."""
    global _worker
    _worker = name


def worker_name() -> str:
    """This process's name in log lines."""
    return _worker


class _Context(logging.Filter):
    """Adds ``worker`` and ``request_id`` to every record (the access log passes its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = _worker
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, worker, logger, message, request_id, access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "worker": getattr(record, "worker", _worker),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in _ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "info", log_format: LogFormat = "text") -> None:
    """Log to stderr at ``level`` in ``log_format`` (replacing the root logger's handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context())
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(worker)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class AccessLogger(AbstractAccessLogger):
    """One line per request: client, method, path, status, bytes, duration, time to first chunk.

    No query string, headers or bodies, so no message contents or secrets.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # Still percent-encoded: a decoded %0a would forge a log line.
        path = request.rel_url.raw_path
        path = path if len(path) <= _MAX_PATH else path[:_MAX_PATH] + "..."
        first = request.get(FIRST_CHUNK)
        ttfb = round(first * 1000, 1) if isinstance(first, float) else None
        request_id = request.get(REQUEST_ID_KEY)
        self.logger.info(
            '%s "%s %s" %d %d %.1fms%s',
            request.remote or "-",
            request.method,
            path,
            response.status,
            response.body_length,
            time * 1000,
            f" ttfb {ttfb}ms" if ttfb is not None else "",
            extra={
                "request_id": request_id,
                "client": request.remote,
                "method": request.method,
                "path": path,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": round(time * 1000, 1),
                "ttfb_ms": ttfb,
            },
        )
