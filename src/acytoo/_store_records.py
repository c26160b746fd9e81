"""What the history store returns: plain records of conversations, messages, exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Conversation", "ConversationSummary", "Exchange", "StoredMessage"]


@dataclass(frozen=True)
class StoredMessage:
    """One stored message."""

    id: int
    role: str
    content: str
    created_at: str
    exchange_id: int | None
    incomplete: bool


@dataclass(frozen=True)
class Exchange:
    """One request to a service and how it went."""

    id: int
    model: str
    provider: str
    url: str | None
    temperature: float | None
    started_at: str
    first_chunk_ms: float | None
    duration_ms: float | None
    error: str | None
    incomplete: bool


@dataclass(frozen=True)
class ConversationSummary:
    """A line of ``acytoo logs``."""

    id: int
    created_at: str
    updated_at: str
    model: str | None
    first_words: str
    messages: int


@dataclass(frozen=True)
class Conversation:
    """A conversation with all its messages and exchanges."""

    id: int
    created_at: str
    updated_at: str
    messages: list[StoredMessage] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def model(self) -> str | None:
        """The model of the latest exchange."""
        return self.exchanges[-1].model if self.exchanges else None

    @property
    def provider(self) -> str | None:
        """The provider of the latest exchange."""
        return self.exchanges[-1].provider if self.exchanges else None

    def answered_exchanges(self) -> set[int]:
        """Ids of the exchanges that have an assistant message (complete or partial)."""
        return {
            m.exchange_id
            for m in self.messages
            if m.role == "assistant" and m.exchange_id is not None
        }

    def history(self) -> list[dict[str, str]]:
        """The messages to send when the conversation continues.

        The latest system message goes first; user and assistant messages
        follow in order. The user message of an exchange that failed before
        any answer arrived is left out (the user will ask again), but a
        partial answer, and its question, stay: the user saw them.
        """
        answered = self.answered_exchanges()
        failed = {
            exchange.id
            for exchange in self.exchanges
            if exchange.error is not None and exchange.id not in answered
        }
        system = [m for m in self.messages if m.role == "system"]
        history: list[dict[str, str]] = []
        if system and system[-1].content:
            history.append({"role": "system", "content": system[-1].content})
        for message in self.messages:
            if message.role == "system" or message.exchange_id in failed:
                continue
            history.append({"role": message.role, "content": message.content})
        return history

    @property
    def system(self) -> str | None:
        """The system prompt in force (the latest system message), if any."""
        system = [m for m in self.messages if m.role == "system"]
        return system[-1].content or None if system else None
