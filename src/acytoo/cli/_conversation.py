"""A conversation held by the command line: history, system prompt, model, storage.

One-shot ``acytoo chat`` asks one question of a :class:`ChatSession`; the
interactive session asks many. Every turn sends the whole conversation so
far (the service keeps no state) and is written to the history store: the
question before anything is sent, the answer (as far as it arrived) after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._types import Message, Messages
from ._provider import ProviderCall
from ._stream import Outcome, stream_answer
from .render import Renderer, debug_enabled, error, one_line, redact

if TYPE_CHECKING:
    from ..store import Conversation, Store

__all__ = ["ChatSession", "describe_error", "report_error"]


def describe_error(exc: BaseException, secrets: list[str]) -> str:
    """One line saying what went wrong, without secrets."""
    message = str(exc) or type(exc).__name__
    attempts = getattr(exc, "attempts", 1)
    if isinstance(attempts, int) and attempts > 1:
        # The retries are why it took this long (see --max-retries).
        message = f"{message} (after {attempts} attempts)"
    return redact(one_line(message), secrets)


def report_error(exc: BaseException, secrets: list[str]) -> None:
    """Print ``exc`` as one line on stderr, with its traceback under ``--debug``."""
    error(describe_error(exc, secrets))
    if debug_enabled():
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


class ChatSession:
    """The state of one conversation and the way to continue it."""

    def __init__(
        self,
        call: ProviderCall,
        model: str,
        *,
        system: str | None = None,
        store: Store | None = None,
        secrets: list[str] | None = None,
    ) -> None:
        self.call = call
        self.model = model
        self.system = system or None
        self.store = store
        self.secrets = secrets or []
        self.history: list[Message] = []
        self.conversation_id: int | None = None
        self._stored_system: str | None = None

    def resume(self, conversation: Conversation) -> None:
        """Continue ``conversation``: its messages become the history."""
        self.conversation_id = conversation.id
        self._stored_system = conversation.system
        if self.system is None:
            self.system = conversation.system
        self.history = [
            Message(role="assistant" if m["role"] == "assistant" else "user", content=m["content"])
            for m in conversation.history()
            if m["role"] != "system"
        ]

    def new(self) -> None:
        """Start a new conversation (the system prompt stays)."""
        self.history = []
        self.conversation_id = None
        self._stored_system = None

    def messages_for(self, prompt: str) -> Messages:
        """What is sent for ``prompt``: the system prompt, the history, the question."""
        messages: list[Message] = []
        if self.system:
            messages.append(Message(role="system", content=self.system))
        messages.extend(self.history)
        messages.append(Message(role="user", content=prompt))
        return messages

    async def ask(self, prompt: str, renderer: Renderer) -> Outcome:
        """Send ``prompt`` with the conversation so far; show and store the answer."""
        messages = self.messages_for(prompt)
        exchange_id = self._store_question(prompt)
        renderer.start()
        outcome = Outcome()
        try:
            outcome = await stream_answer(self.call, self.model, messages, renderer.chunk)
        finally:
            renderer.finish(outcome.text)
            if exchange_id is not None and self.store is not None:
                error = None
                if outcome.error is not None:
                    error = describe_error(outcome.error, self.secrets)
                elif outcome.interrupted:
                    error = "interrupted"
                self.store.finish_exchange(
                    exchange_id,
                    outcome.text,
                    first_chunk_ms=outcome.first_chunk_ms,
                    duration_ms=outcome.duration_ms,
                    error=error,
                    incomplete=not outcome.complete,
                )
        # A question that got no answer at all is not sent again next turn
        # (the store keeps it); a partial answer stays, as the user saw it.
        if outcome.parts or outcome.complete:
            self.history.append(Message(role="user", content=prompt))
            self.history.append(Message(role="assistant", content=outcome.text))
        return outcome

    def _store_question(self, prompt: str) -> int | None:
        if self.store is None:
            return None
        if self.conversation_id is None:
            self.conversation_id = self.store.new_conversation()
        if (self.system or None) != self._stored_system:
            self.store.set_system(self.conversation_id, self.system or "")
            self._stored_system = self.system or None
        return self.store.start_exchange(
            self.conversation_id,
            prompt,
            model=self.model,
            provider=self.call.name,
            url=self.call.url,
            temperature=self.call.kwargs.get("temperature"),
        )
