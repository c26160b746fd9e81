"""The errors that need no HTTP library; :mod:`acytoo.errors` re-exports them.

They live apart so that code paths without networking (the offline
assistant, argument validation) do not import aiohttp.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AcytooError", "AllProvidersFailedError", "InvalidRequestError", "StreamError"]


class AcytooError(Exception):
    """Base class of every error acytoo raises.

    ``attempts`` is how many times the request was sent before this error
    was raised (more than 1 when it was retried, see ``max_retries``).
    """

    attempts: int = 1


class InvalidRequestError(AcytooError, ValueError):
    """The call's arguments are invalid; nothing was sent.

    ``param`` names the invalid field (``"temperature"``, ``"messages"``)
    when one is to blame; the server reports it in its 400 answer.
    """

    param: str | None = None

    def __init__(self, *args: object, param: str | None = None) -> None:
        super().__init__(*args)
        self.param = param


class StreamError(AcytooError):
    """The service reported an error after the answer had started."""

    def __init__(self, message: str, *, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body


class AllProvidersFailedError(AcytooError):
    """Every provider of a :class:`~acytoo.RetryProvider` failed.

    ``errors`` pairs each provider's name with the exception it raised.
    """

    def __init__(self, errors: Sequence[tuple[str, BaseException]]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{name}: {type(exc).__name__}: {exc}" for name, exc in self.errors)
        super().__init__(f"all providers failed ({lines})")
