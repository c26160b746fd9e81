"""The bridge for synchronous callers: one background event-loop thread.

Every synchronous call runs its coroutine on the same long-lived loop, so
pooled connections are reused across calls, no loop is created per call, and
the bridge works even when the calling thread already runs a loop (Jupyter,
async frameworks), because the caller only ever blocks on a future.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["iterate_in_background", "run_in_background"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_shut_down = False


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _shut_down:
            raise RuntimeError("the interpreter is exiting: acytoo's sync bridge is closed")
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="acytoo-sync-bridge", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def _shutdown() -> None:
    """Close the pooled sessions and the loop when the interpreter exits."""
    global _loop, _thread, _shut_down
    with _lock:
        loop, thread = _loop, _thread
        _loop = _thread = None
        _shut_down = True
    if loop is None or thread is None or not thread.is_alive():
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()


atexit.register(_shutdown)


def run_in_background(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the background loop and wait for its result."""
    loop = _background_loop()
    if _running_loop() is loop:
        coroutine.close()
        raise RuntimeError("synchronous acytoo calls cannot be made from acytoo's own loop")
    future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result()
    except BaseException:
        # KeyboardInterrupt in the caller: stop the work rather than leave it running.
        future.cancel()
        raise


def iterate_in_background(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async iterator from synchronous code, item by item.

    Closing the returned generator early (``break``, garbage collection)
    closes the async iterator on the background loop, which closes its
    HTTP response.
    """
    # Ctrl-C while waiting cancels the pending __anext__, but the cancellation
    # reaches the loop asynchronously; aclose() must wait for it, or it finds
    # the generator still running and fails. The lock makes it wait.
    lock = asyncio.Lock()
    try:
        while True:
            try:
                item = run_in_background(_next(iterator, lock))
            except StopAsyncIteration:
                return
            yield item
    finally:
        # After exit-time shutdown (an iterator left open until the interpreter
        # finalises it) the loop already closed every async generator; starting
        # a new loop then would hang the exit.
        if hasattr(iterator, "aclose") and not _shut_down:
            run_in_background(_aclose(iterator, lock))


async def _next(iterator: AsyncIterator[T], lock: asyncio.Lock) -> T:
    async with lock:
        return await iterator.__anext__()


async def _aclose(iterator: AsyncIterator[T], lock: asyncio.Lock) -> None:
    async with lock:
        await iterator.aclose()  # type: ignore[attr-defined]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
