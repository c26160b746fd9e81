"""Pulling a backend's answer in batches: one write per burst, not per chunk.

A backend often yields many tiny chunks from one network read (an SSE
upstream sends a few characters per event). Writing each one costs a system
call, so a pump task drains the backend into a buffer while the handler
writes whatever has accumulated since its last write. Nothing waits for more
text to arrive: a chunk that comes alone is written alone, at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..providers.base import closing

__all__ = ["ChunkPump"]

# Stop pulling from the backend while this much text waits for a slow client.
_HIGH_WATER = 256 * 1024


class ChunkPump:
    """Runs ``chunks`` in a task; :meth:`next_batch` returns everything buffered so far.

    A backend failure is raised by :meth:`next_batch` after the text that
    preceded it has been handed out. :meth:`aclose` stops the backend
    (closing its upstream request) and must always be called.
    """

    def __init__(self, chunks: AsyncIterator[str], high_water: int = _HIGH_WATER) -> None:
        self._chunks = chunks
        self._high_water = high_water
        self._buffer: list[str] = []
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async with closing(self._chunks):
                await self._pump()
        except Exception as exc:
            self._error = exc
        finally:
            self._done = True
            self._readable.set()

    async def _pump(self) -> None:
        async for chunk in self._chunks:
            if not chunk:
                continue
            self._buffer.append(chunk)
            self._size += len(chunk)
            self._readable.set()
            if self._size >= self._high_water:
                self._writable.clear()
                await self._writable.wait()

    async def next_batch(self) -> str | None:
        """The text buffered since the last call, waiting for some; ``None`` at the end."""
        while not self._buffer and not self._done:
            self._readable.clear()
            await self._readable.wait()
        if self._buffer:
            text = self._buffer[0] if len(self._buffer) == 1 else "".join(self._buffer)
            self._buffer.clear()
            self._size = 0
            self._writable.set()
            return text
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return None

    @property
    def finished(self) -> bool:
        """Whether the answer is over: the backend ended cleanly and everything was handed out.

        Lets a handler send its last text together with the end of the response.
        """
        return self._done and not self._buffer and self._error is None

    async def aclose(self) -> None:
        """Stop the backend and wait until it has closed its upstream request."""
        if self._task.done():
            if not self._task.cancelled():
                self._task.exception()
            return
        self._task.cancel()
        # wait() rather than awaiting the task: our own cancellation still propagates.
        await asyncio.wait([self._task])
        if not self._task.cancelled():
            # Mark a failure while closing the backend as seen: the answer is already dealt with.
            self._task.exception()
