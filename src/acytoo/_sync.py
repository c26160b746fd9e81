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
import signal
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["iterate_in_background", "run_in_background"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_shut_down = False
_MAIN_THREAD_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_SIGNAL_CHECK_INTERVAL = 0.2


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _shut_down:
            raise RuntimeError("the interpreter is exiting: acytoo's sync bridge is closed")
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                # Signals must reach the main thread: a SIGINT handled by this
                # thread (the kernel may pick any thread that does not block it)
                # would never wake a caller blocked on a future, so Ctrl-C would
                # hang. Threads this loop starts (DNS lookups) inherit the mask.
                if hasattr(signal, "pthread_sigmask"):
                    signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
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
    call = _Call(coroutine)
    try:
        loop.call_soon_threadsafe(call.start)
        return _wait(call.future)
    except BaseException:
        # KeyboardInterrupt in the caller: stop the work rather than leave it
        # running. Ctrl-C can land anywhere in this block, even inside
        # call_soon_threadsafe after it queued the call, so the cancellation
        # goes through the same queue and finds the call whatever its state.
        call.cancel(loop)
        raise


class _Call(Generic[T]):
    """A coroutine handed to the background loop, cancellable from any point."""

    def __init__(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self.coroutine = coroutine
        self.future: Future[T] = Future()
        self._task: asyncio.Task[T] | None = None

    def start(self) -> None:
        """Runs on the loop: start the coroutine, unless cancelled already."""
        if self.future.cancelled():
            self.coroutine.close()
            return
        self._task = asyncio.get_running_loop().create_task(self.coroutine)
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:
        # set_running_or_notify_cancel() is the atomic "not cancelled meanwhile" check.
        if not self.future.set_running_or_notify_cancel():
            return
        if task.cancelled():
            self.future.set_exception(asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(task.result())

    def cancel(self, loop: asyncio.AbstractEventLoop) -> None:
        """From the caller's thread: cancel the call, whether or not it has started."""
        self.future.cancel()
        # Queued after start() if start() was queued at all, so it sees the task.
        loop.call_soon_threadsafe(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        else:
            # Never started (Ctrl-C before start() was queued): close it so it
            # is not reported as "never awaited". Closing twice is harmless.
            self.coroutine.close()


def _wait(future: Future[T]) -> T:
    """``future.result()``, waking up now and then so Ctrl-C is never lost.

    A signal that lands just before the thread goes to sleep on the lock
    is only acted on when the thread next runs Python code; an untimed wait
    could then sleep through Ctrl-C for as long as the server stays silent.
    The wait is on a bare lock, not on the future's condition variable: on
    Python 3.10 a KeyboardInterrupt raised inside ``Condition.wait`` can leave
    it half-released ("cannot release un-acquired lock"), while a bare lock's
    timed acquire is either taken or not.
    """
    finished = threading.Lock()
    finished.acquire()
    future.add_done_callback(lambda _: finished.release())
    while not finished.acquire(timeout=_SIGNAL_CHECK_INTERVAL):
        pass
    return future.result()


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
