"""What both protocols share: access checks, model and key choice, starting an answer."""

from __future__ import annotations

import hmac
import random
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import APIStatusError
from .backends import Backend
from .config import ServerConfig
from .errors import RequestError, log_failure, provider_failure
from .shared_state import MemoryState, SharedState, StateUnavailableError
from .streaming import ChunkPump
from .validation import CompletionRequest

if TYPE_CHECKING:
    from .._transport import ResponseStream

__all__ = ["SERVICE", "Answer", "Service"]


@dataclass
class Answer:
    """A started answer: its first text has arrived (``None``: the answer is empty)."""

    model: str
    first: str | None
    pump: ChunkPump


class Service:
    """The server's state: configuration, backend and the shared state (key rotation, limits)."""

    def __init__(
        self, config: ServerConfig, backend: Backend, state: SharedState | None = None
    ) -> None:
        self.config = config
        self.backend = backend
        self.state = state or MemoryState()
        # "surrogatepass": a secret from the environment, a JSON password with a
        # lone surrogate or a header with undecodable bytes must not raise.
        self._secrets = [
            secret.encode("utf-8", "surrogatepass") for secret in config.access_secrets
        ]
        self._allowed = frozenset(config.allowed_models)
        self._aliases = dict(config.model_aliases)

    @property
    def protected(self) -> bool:
        """Whether requests need an access secret."""
        return bool(self._secrets)

    def check_secret(self, given: str | None) -> bool:
        """Whether ``given`` is one of the access secrets (constant time; true when none is set)."""
        if not self._secrets:
            return True
        candidate = (given or "").encode("utf-8", "surrogatepass")
        matched = False
        for secret in self._secrets:
            # Compare against every secret so timing does not tell which one matched.
            matched |= hmac.compare_digest(candidate, secret)
        return matched and bool(candidate)

    def resolve_model(self, requested: str | None) -> str:
        """The model to ask the backend for, or 400 when the allow-list refuses it."""
        model = requested or self.config.default_model or self.backend.default_model
        if self._allowed and model not in self._allowed:
            raise RequestError(400, f"Not supported model {model}", param="model")
        return model

    def uses_client_key(self, client_key: str) -> bool:
        """Whether a request with ``client_key`` goes upstream with that key (not the server's)."""
        return (
            bool(client_key)
            and self.config.allow_client_keys
            and (self.backend.key_option is not None)
        )

    def upstream_model(self, model: str) -> str:
        """The upstream's name for ``model`` (what :meth:`resolve_model` chose)."""
        return self._aliases.get(model, model)

    async def upstream_key(self, client_key: str) -> str | None:
        """The client's own key when allowed, else the next of the server's keys.

        The round-robin position is shared state: with Redis, every worker
        and machine takes the keys in one common turn.
        """
        if client_key and self.config.allow_client_keys:
            return client_key
        keys = self.config.upstream_keys
        if not keys:
            return None
        if len(keys) == 1:
            return keys[0]
        if self.config.key_selection == "random":
            return random.choice(keys)
        try:
            return keys[await self.state.next_index("upstream-keys", len(keys))]
        except StateUnavailableError:
            raise RequestError(503, "shared state unavailable", type="server_error") from None

    async def start(self, request: CompletionRequest) -> Answer:
        """Ask the backend and wait for its first text; failures become :class:`RequestError`."""
        model = self.resolve_model(request.model)
        key = await self.upstream_key(request.key)
        # Whose credentials the upstream sees: a 401 on the client's own key is
        # the client's to fix, one on the server's is the operator's.
        client_credentials = self.uses_client_key(request.key)
        options = self.backend.call_options(
            key, request.temperature, request.max_tokens, self.config.upstream_password
        )
        try:
            chunks = self.backend.provider.create_async_generator(
                self.upstream_model(model), request.messages, **options
            )
        except Exception as exc:
            log_failure(exc, after_text=False, client_credentials=client_credentials)
            raise provider_failure(exc, client_credentials=client_credentials) from exc
        pump = ChunkPump(chunks)
        try:
            first = await pump.next_batch()
        except Exception as exc:
            await pump.aclose()
            log_failure(exc, after_text=False, client_credentials=client_credentials)
            raise provider_failure(exc, client_credentials=client_credentials) from exc
        except BaseException:
            await pump.aclose()
            raise
        return Answer(self.backend.reported_model or model, first, pump)

    async def open_relay(
        self, path: str, body: bytes
    ) -> AbstractAsyncContextManager[ResponseStream]:
        """Send ``body`` to the backend's ``path`` unchanged, with the next upstream key.

        Only for a backend with :attr:`Backend.relay`; entering the returned
        context waits for the upstream's first chunk (failover and retries
        happen before it).
        """
        relay = self.backend.relay
        if relay is None:
            raise RequestError(400, "this server's backend cannot relay requests")
        options = self.backend.call_options(await self.upstream_key(""), None)
        return relay.open_relay(path, body, **options)

    async def list_models(self) -> list[str]:
        """The allow-list when there is one, else what the backend offers."""
        if self._allowed:
            return list(self.config.allowed_models)
        options = self.backend.call_options(
            await self.upstream_key(""), None, upstream_password=self.config.upstream_password
        )
        default = self.backend.reported_model or self.config.default_model
        try:
            models = list(await self.backend.provider.list_models(**options))
        except APIStatusError as exc:
            if exc.status not in (404, 405):
                log_failure(exc, after_text=False)
                raise provider_failure(exc) from exc
            # An upstream without a model list (some OpenAI-compatible servers):
            # list what requests get by default rather than fail.
            models = []
            default = default or self.backend.default_model
        except Exception as exc:
            log_failure(exc, after_text=False)
            raise provider_failure(exc) from exc
        if default and default not in models:
            models.insert(0, default)
        return [*self._aliases, *(model for model in models if model not in self._aliases)]


SERVICE = web.AppKey("acytoo_service", Service)
"""The application key under which the handlers find the :class:`Service`."""
