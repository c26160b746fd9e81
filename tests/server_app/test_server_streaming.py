"""The chunk pump: batches what is already there, keeps order, stops the backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from acytoo.server.streaming import ChunkPump


async def burst(count: int) -> AsyncIterator[str]:
    for index in range(count):
        yield f"{index},"


async def test_chunks_yielded_together_come_out_as_one_batch() -> None:
    pump = ChunkPump(burst(100))
    try:
        assert await pump.next_batch() == "".join(f"{i}," for i in range(100))
        assert await pump.next_batch() is None
    finally:
        await pump.aclose()


async def test_a_lone_chunk_is_not_held_back() -> None:
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[str]:
        yield "a"
        await gate.wait()
        yield "b"

    pump = ChunkPump(slow())
    try:
        assert await asyncio.wait_for(pump.next_batch(), 10) == "a"
        gate.set()
        assert await asyncio.wait_for(pump.next_batch(), 10) == "b"
        assert await pump.next_batch() is None
    finally:
        await pump.aclose()


async def test_error_comes_after_the_text_before_it() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "partial"
        raise ValueError("boom")

    pump = ChunkPump(failing())
    try:
        assert await pump.next_batch() == "partial"
        with pytest.raises(ValueError, match="boom"):
            await pump.next_batch()
    finally:
        await pump.aclose()


async def test_slow_reader_pauses_the_backend() -> None:
    produced = 0

    async def endless() -> AsyncIterator[str]:
        nonlocal produced
        for _ in range(100_000):
            produced += 1
            yield "x" * 100
            await asyncio.sleep(0)

    pump = ChunkPump(endless(), high_water=1000)
    try:
        first = await pump.next_batch()
        assert first is not None
        for _ in range(50):
            await asyncio.sleep(0)
        assert produced <= 11  # stopped at the high-water mark, not 100,000 chunks
    finally:
        await pump.aclose()


async def test_aclose_stops_the_backend_and_runs_its_cleanup() -> None:
    closed = asyncio.Event()

    async def held() -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.Event().wait()
            yield "never"
        finally:
            closed.set()

    pump = ChunkPump(held())
    assert await pump.next_batch() == "first"
    await pump.aclose()
    assert closed.is_set()
    await pump.aclose()  # idempotent
