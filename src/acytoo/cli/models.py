"""``acytoo models``: what the configured service offers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from . import exit_codes
from ._where import where_options
from .config import ConfigError, Settings, Target, resolve
from .render import notice

__all__ = ["models"]


@click.command(epilog=exit_codes.EPILOG)
@where_options(detailed=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def models(settings: Settings, max_retries: int | None, as_json: bool) -> None:
    """List the model ids the configured service offers, one per line.

    The service is asked: GET /v1/models of an acytoo server (`acytoo serve`),
    GET {url}/models of an OpenAI-compatible one. A service that cannot be
    reached exits 3; one that does not list its models says so and exits 4.
    The offline assistant lists itself.
    """
    try:
        target = resolve(settings)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    names = asyncio.run(_list(target, max_retries))
    if names is None:
        raise click.exceptions.Exit(exit_codes.HTTP_STATUS)
    if as_json:
        click.echo(json.dumps(names))
        return
    for name in names:
        click.echo(name)


async def _list(target: Target, max_retries: int | None) -> list[str] | None:
    """The service's model ids; ``None`` (said on stderr) when it does not list them."""
    from ._provider import provider_call

    call = provider_call(target)
    if call.name == "local":
        return await call.provider.list_models()
    from .. import errors
    from ..providers.openai_compatible import OpenAICompatible
    from ..store import public_url

    options: dict[str, Any] = {}
    if target.timeout is not None:
        options["timeout"] = target.timeout
    if max_retries is not None:
        options["max_retries"] = max_retries
    if call.name == "openai":
        base_url = call.kwargs["base_url"]
        # Absent when none was given: the library's rule for environment keys decides.
        api_key = call.kwargs.get("api_key")
    else:
        # The Acytoo protocol has no model list, but an acytoo server has
        # one on its OpenAI endpoint, which takes the password as its key.
        base_url = str(target.url).rstrip("/") + "/v1"
        api_key = target.password or target.key or ""
    if api_key is not None:
        options["api_key"] = api_key
    try:
        return await OpenAICompatible.list_models(call.proxy, base_url=base_url, **options)
    except errors.APIStatusError as exc:
        if exc.status not in (404, 405):
            raise
        notice(
            f"{public_url(base_url)}/models answered {exc.status}: this service does not "
            "list its models (name one with acytoo chat -m)"
        )
        return None
