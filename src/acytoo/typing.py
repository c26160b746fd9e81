"""Named types shared by every provider (the gpt4free shapes users know)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Literal, TypedDict

__all__ = ["AsyncResult", "CreateResult", "Message", "Messages", "Role"]

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    """One turn of a conversation."""

    role: str
    content: str


Messages = list[Message]
"""A conversation, oldest turn first."""

AsyncResult = AsyncIterator[str]
"""What ``create_async_generator`` returns: the answer as text chunks."""

CreateResult = Iterator[str]
"""What ``create_completion`` returns: the answer as text chunks, synchronously."""
