"""A provider that lives outside acytoo, for the registry tests: it echoes its options."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from acytoo import AsyncResult, Messages
from acytoo.providers.base import AsyncGeneratorProvider


class Echo(AsyncGeneratorProvider):
    working: ClassVar[bool] = True
    default_model: ClassVar[str] = "echo-1"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        options = cls.options(kwargs)
        yield json.dumps({"model": model, "last": messages[-1]["content"], **options})
