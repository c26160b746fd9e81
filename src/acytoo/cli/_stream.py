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

from ..typing import Messages
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
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if outcome.first_chunk_ms is None:
                    outcome.first_chunk_ms = (time.perf_counter() - started) * 1000
                outcome.parts.append(chunk)
                if on_chunk is not None:
                    on_chunk(chunk)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    task = asyncio.ensure_future(consume())

    def interrupt() -> None:
        outcome.interrupted = True
        task.cancel()

    with _sigint_calls(interrupt):
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
def _sigint_calls(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` on SIGINT (instead of raising KeyboardInterrupt) inside the block."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        # Windows, or not the main thread: KeyboardInterrupt it is.
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        # remove_signal_handler installs Python's default handler; put back
        # whatever was there (asyncio.run's own handler, for instance).
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
