"""``acytoo.ChatCompletion``: gpt4free's calling convention over acytoo's providers.

A script written for gpt4free works by changing its import line::

    import acytoo as g4f            # was: import g4f

    for text in g4f.ChatCompletion.create(
        model="gpt-3.5-turbo", messages=messages, provider=g4f.Provider.Acytoo, stream=True
    ):
        print(text, end="")

``provider`` is any acytoo provider (a class such as ``Acytoo``, or a
``RetryProvider`` object); without one it is :class:`~acytoo.Acytoo`, which
sends to ``ACYTOO_URL``. Other keyword arguments are the provider's options.
"""

from __future__ import annotations

from typing import Any

from . import providers as Provider
from ._types import CreateResult, Messages

__all__ = ["ChatCompletion", "Provider"]


def _default_provider() -> Any:
    return Provider.Acytoo


def _model_name(model: Any) -> Any:
    # gpt4free also passes model objects (g4f.models.gpt_35_turbo) with a name;
    # anything else goes to the provider as is, which validates it.
    name = getattr(model, "name", model)
    return name if isinstance(name, str) else model


class ChatCompletion:
    """gpt4free's ``ChatCompletion``: ``create`` (sync) and ``create_async``."""

    @staticmethod
    def create(
        model: Any,
        messages: Messages,
        provider: Any = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> CreateResult | str:
        """The answer: an iterator of text chunks with ``stream=True``, else the whole text.

        Safe in scripts, threads and notebooks (a running event loop is fine).
        """
        chosen = provider if provider is not None else _default_provider()
        name = _model_name(model)
        if stream:
            return chosen.create_completion(name, messages, True, **kwargs)  # type: ignore[no-any-return]
        return "".join(chosen.create_completion(name, messages, False, **kwargs))

    @staticmethod
    async def create_async(
        model: Any, messages: Messages, provider: Any = None, **kwargs: Any
    ) -> str:
        """The whole answer, from async code."""
        chosen = provider if provider is not None else _default_provider()
        return await chosen.create_async(_model_name(model), messages, **kwargs)  # type: ignore[no-any-return]
