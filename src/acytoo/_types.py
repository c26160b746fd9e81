"""Named types shared by every provider (the gpt4free shapes users know).

Public through ``acytoo`` and the compatibility module ``acytoo.typing``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, TypedDict

__all__ = ["AsyncResult", "CreateResult", "Message", "Messages", "Role"]

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    """One turn of a conversation."""

    role: Role
    content: str


Messages = Sequence[Mapping[str, Any]]
"""A conversation, oldest turn first: any sequence of message mappings.

A plain ``list[dict[str, str]]`` and a ``list[Message]`` both fit (a
``list[Message]`` alias would refuse the first: ``list`` is invariant).
Each mapping is checked at run time (``role`` and ``content``).
"""

AsyncResult = AsyncIterator[str]
"""What ``create_async_generator`` returns: the answer as text chunks."""

CreateResult = Iterator[str]
"""What ``create_completion`` returns: the answer as text chunks, synchronously."""
