"""Running the server: on a port inside a program, or as a process until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from .._transport import aclose_sessions, set_max_connections
from .app import AccessLogger, create_app
from .backends import Backend
from .config import ServerConfig
from .connections import ConnectionGuard, GuardedSite, ProtocolLogger, default_max_connections

__all__ = ["RunningServer", "run", "serve"]

logger = logging.getLogger("acytoo.server")
access_logger = logging.getLogger("acytoo.server.access")

# Room for many clients connecting at once (the kernel caps it at somaxconn).
_BACKLOG = 1024
_SHORTEST_GRACE = 0.001


@dataclass(frozen=True)
class RunningServer:
    """A started server: where it listens and its application."""

    host: str
    port: int
    app: web.Application

    @property
    def url(self) -> str:
        """``http://host:port`` (IPv6 hosts in brackets)."""
        return server_url(self.host, self.port)

    @property
    def page_url(self) -> str:
        """Where a browser on this machine opens the chat page (a wildcard host: loopback)."""
        return page_url(self.host, self.port)


def server_url(host: str, port: int) -> str:
    """``http://host:port`` (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def page_url(host: str, port: int) -> str:
    """Where a browser on this machine opens the chat page (a wildcard host: loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return server_url(host, port) + "/"


@asynccontextmanager
async def serve(
    config: ServerConfig | None = None,
    backend: Backend | None = None,
    *,
    sock: socket.socket | None = None,
) -> AsyncIterator[RunningServer]:
    """Listen on ``config.host``/``config.port`` (0 picks a free port) until the block ends.

    ``sock``: accept on this listening socket instead (a worker's, shared).

    Leaving the block stops accepting connections, lets requests in flight
    finish for up to ``config.grace_period`` seconds, then cancels them (which
    cancels their upstream requests).
    """
    config = config or ServerConfig()
    # For the pooled sessions created while it runs (the server's upstream ones).
    previous_limit = set_max_connections(config.upstream_connections)
    app = create_app(config, backend)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        # A client that disconnects cancels its handler, and so its upstream request.
        handler_cancellation=True,
        access_log_class=AccessLogger,
        access_log=access_logger if config.access_log else None,
        # aiohttp reads 0 as "no limit": no grace at all is the shortest one it takes.
        shutdown_timeout=max(config.grace_period, _SHORTEST_GRACE),
        logger=ProtocolLogger(logging.getLogger("aiohttp.server")),
    )
    await runner.setup()
    try:
        guard = ConnectionGuard(
            max_connections=config.max_connections or default_max_connections(),
            header_timeout=config.header_timeout,
        )
        # With sock (a worker's share of one listening socket) the site accepts there.
        site = GuardedSite(runner, config.host, config.port, guard, backlog=_BACKLOG, sock=sock)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield RunningServer(host=str(host), port=int(port), app=app)
    finally:
        await runner.cleanup()
        set_max_connections(previous_limit)


def run(config: ServerConfig | None = None, backend: Backend | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    Prints ``listening on http://host:port`` to stderr once ready. A second
    signal during the grace period stops at once, cutting answers in flight.
    """
    config = config or ServerConfig()
    if config.workers > 1:
        from .workers import run_workers

        run_workers(config, backend)
        return
    try:
        asyncio.run(_serve_until_stopped(config, backend))
    except asyncio.CancelledError:
        logger.warning("stopped without waiting for the answers in flight")


async def _serve_until_stopped(
    config: ServerConfig, backend: Backend | None, *, sock: socket.socket | None = None
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)

    def on_signal() -> None:
        if stop.is_set():
            # Asked twice: do not wait any longer. Cancel every task, the
            # handlers in flight included, not just this one: on Python 3.10
            # aiohttp's graceful shutdown swallows a cancellation of the task
            # that awaits it and would go on waiting for the handlers.
            for task in asyncio.all_tasks(loop):
                task.cancel()
        stop.set()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        async with serve(config, backend, sock=sock) as server:
            if sock is None:
                print(f"listening on {server.url}", file=sys.stderr, flush=True)
                if config.web:
                    print(f"Chat page: {server.page_url}", file=sys.stderr, flush=True)
            else:  # a worker: its supervisor says where
                logger.info("serving on %s", server.url)
            await stop.wait()
            logger.info(
                "shutting down: finishing requests in flight (up to %g s)", config.grace_period
            )
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await aclose_sessions()
    logger.info("stopped")
