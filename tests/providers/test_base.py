"""The contract's shared half: create_async and create_completion for both provider shapes."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from acytoo import AsyncResult, Messages, RetryProvider
from acytoo.providers.base import AsyncGeneratorProvider

USER = [{"role": "user", "content": "Hi"}]


class Counting(AsyncGeneratorProvider):
    working: ClassVar[bool] = True
    closed: ClassVar[int] = 0

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        try:
            for word in ("one ", "two ", model):
                yield word
        finally:
            cls.closed += 1


class OwnJoin(Counting):
    @classmethod
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        return "joined my own way"


@pytest.mark.parametrize(
    "provider", [Counting, RetryProvider([Counting])], ids=["class", "RetryProvider"]
)
async def test_both_shapes_join_and_close_the_same_way(provider: Any) -> None:
    before = Counting.closed
    assert await provider.create_async("m", USER) == "one two m"
    assert Counting.closed == before + 1


@pytest.mark.parametrize(
    "provider", [Counting, RetryProvider([Counting])], ids=["class", "RetryProvider"]
)
def test_both_shapes_iterate_from_sync_code(provider: Any) -> None:
    assert list(provider.create_completion("m", USER)) == ["one ", "two ", "m"]
    assert list(provider.create_completion("m", USER, stream=False)) == ["one two m"]


def test_an_overridden_create_async_answers_the_non_streaming_call() -> None:
    assert list(OwnJoin.create_completion("m", USER, stream=False)) == ["joined my own way"]
    assert list(OwnJoin.create_completion("m", USER)) == ["one ", "two ", "m"]
