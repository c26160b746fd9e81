"""Stream one answer from a provider, with timings, and stop cleanly on Ctrl-C.

Ctrl-C while an answer streams cancels only that answer: the provider's
stream is closed (the HTTP response with it) and what arrived so far is
returned, marked interrupted, so the caller can keep and store it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._types import Messages
from ..providers.base import closing
from ._provider import ProviderCall

__all__ = ["Outcome", "stream_answer"]


@dataclass
class Outcome:
    """How one answer went."""

    parts: list[str] = field(default_factory=list)
    first_chunk_ms: float | None = None
    duration_ms: float = 0.0
    error: Exception | None = None
    interrupted: bool = False
    terminated: bool = False
    """Stopped by SIGTERM (also ``interrupted``): the caller should exit."""

    @property
    def text(self) -> str:
        """The answer as far as it arrived."""
        return "".join(self.parts)

    @property
    def complete(self) -> bool:
        """True when the whole answer arrived."""
        return self.error is None and not self.interrupted


async def stream_answer(
    call: ProviderCall,
    model: str,
    messages: Messages,
    on_chunk: Callable[[str], None] | None = None,
) -> Outcome:
    """Stream the answer to ``messages``, calling ``on_chunk`` for each piece.

    Errors are not raised but returned in :attr:`Outcome.error` together with
    the text that came before them; Ctrl-C sets :attr:`Outcome.interrupted`.
    """
    outcome = Outcome()
    started = time.perf_counter()

    async def consume() -> None:
        chunks: Any = call.provider.create_async_generator(
            model, messages, call.proxy, **call.kwargs
        )
        async with closing(chunks):
            async for chunk in chunks:
                if not chunk:
                    continue
                if outcome.first_chunk_ms is None:
                    outcome.first_chunk_ms = (time.perf_counter() - started) * 1000
                outcome.parts.append(chunk)
                if on_chunk is not None:
                    on_chunk(chunk)

    task = asyncio.ensure_future(consume())

    def interrupt(terminate: bool) -> None:
        outcome.interrupted = True
        outcome.terminated = outcome.terminated or terminate
        task.cancel()

    with _signals_call(interrupt):
        try:
            await task
        except asyncio.CancelledError:
            if not outcome.interrupted:
                raise
        except KeyboardInterrupt:
            # Where the loop cannot take over SIGINT, the interrupt arrives
            # as an exception instead.
            outcome.interrupted = True
        except Exception as exc:
            outcome.error = exc
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return outcome


@contextlib.contextmanager
def _signals_call(callback: Callable[[bool], None]) -> Iterator[None]:
    """Inside the block, SIGINT calls ``callback(False)`` and SIGTERM ``callback(True)``.

    Instead of KeyboardInterrupt (or death by SIGTERM) wherever the program
    happens to be, the stream is cancelled cleanly and what arrived is kept.
    """
    loop = asyncio.get_running_loop()
    installed: list[tuple[signal.Signals, Any]] = []
    try:
        for signum, terminate in ((signal.SIGINT, False), (signal.SIGTERM, True)):
            previous = signal.getsignal(signum)
            loop.add_signal_handler(signum, callback, terminate)
            installed.append((signum, previous))
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # Windows, or not the main thread: KeyboardInterrupt it is
    try:
        yield
    finally:
        for signum, previous in installed:
            loop.remove_signal_handler(signum)
            # remove_signal_handler installs the default handler; put back
            # whatever was there (asyncio.run's own SIGINT handler, say).
            if previous is not None:
                signal.signal(signum, previous)
