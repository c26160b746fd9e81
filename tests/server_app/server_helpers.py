"""Test backends for the server: real providers that yield scripted text, and a
real Acytoo-protocol upstream server on loopback that can hold its answer and
notices when its client goes away."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from acytoo import AsyncResult, Messages
from acytoo.providers.base import AsyncGeneratorProvider

USER = [{"role": "user", "content": "Hello, Acytoo!"}]


@dataclass
class Call:
    model: str
    messages: Messages
    options: dict[str, Any]


def scripted(
    chunks: Sequence[str] = ("Hello", ", ", "world"),
    *,
    fail_before: BaseException | None = None,
    fail_after: BaseException | None = None,
    gate: asyncio.Event | None = None,
    calls: list[Call] | None = None,
    models: Sequence[str] = (),
    name: str = "Scripted",
) -> type[AsyncGeneratorProvider]:
    """A provider class yielding ``chunks``; optionally failing before or after them.

    With ``gate``, it yields the first chunk and waits for the gate before the rest.
    """

    model_ids = tuple(models)

    class Scripted(AsyncGeneratorProvider):
        working: ClassVar[bool] = True
        models: ClassVar[tuple[str, ...]] = model_ids

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncResult:
            if calls is not None:
                calls.append(Call(model, messages, dict(kwargs)))
            if fail_before is not None:
                raise fail_before
            for index, chunk in enumerate(chunks):
                if index == 1 and gate is not None:
                    await gate.wait()
                yield chunk
            if fail_after is not None:
                raise fail_after

    Scripted.__name__ = Scripted.__qualname__ = name
    return Scripted


@dataclass
class AcytooUpstream:
    """A real Acytoo-protocol server: streams ``chunks``; ``hold`` pauses it after the first.

    ``disconnected`` is set when a client goes away before the answer ended.
    """

    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " upstream"])
    status: int = 200
    error_body: str = '{"error": {"message": "upstream says no", "type": "x"}}'
    hold: asyncio.Event | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        if self.status != 200:
            return web.Response(
                status=self.status, text=self.error_body, content_type="application/json"
            )
        response = web.StreamResponse()
        try:
            await response.prepare(request)
            for index, chunk in enumerate(self.chunks):
                await response.write(chunk.encode())
                if index == 0:
                    self.started.set()
                    if self.hold is not None:
                        await self.hold.wait()
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionError):
            self.disconnected.set()
            raise
        return response


@contextlib.asynccontextmanager
async def running_upstream(upstream: AcytooUpstream) -> AsyncIterator[AcytooUpstream]:
    app = web.Application()
    app.router.add_post("/api/completions", upstream.handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        upstream.url = f"http://127.0.0.1:{port}"
        yield upstream
    finally:
        if upstream.hold is not None:
            upstream.hold.set()
        await runner.cleanup()


async def wait_for(event: asyncio.Event, seconds: float = 10.0) -> None:
    """Wait for ``event``, failing the test after ``seconds`` instead of hanging."""
    await asyncio.wait_for(event.wait(), seconds)


@contextlib.contextmanager
def server_in_thread(config: Any = None, backend: Any = None) -> Iterator[str]:
    """Run the server on its own event loop in a background thread; yields its URL.

    For synchronous clients (schemathesis, requests) that would block the
    test's own loop.
    """
    from acytoo.server import ServerConfig, serve

    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with serve(config or ServerConfig(port=0, grace_period=1.0), backend) as server:
                ready.set_result(server.url)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def drain(chunks: AsyncIterator[Any], into: list[Any]) -> None:
    """Append every item of ``chunks`` to ``into`` (so a test can see what came before an error)."""
    async for item in chunks:
        into.append(item)
