"""``acytoo models``: what the configured service offers."""

from __future__ import annotations

import asyncio
import json

import click

from . import exit_codes
from .config import PROVIDERS, ConfigError, Settings, resolve

__all__ = ["models"]


@click.command(epilog=exit_codes.EPILOG)
@click.option("--url", help="Base URL of the service (also ACYTOO_URL).")
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS, case_sensitive=False),
    help="Protocol: acytoo, openai or local.",
)
@click.option("--proxy", help="Proxy URL (also ACYTOO_PROXY).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds.")
@click.option("--key", help="API key (prefer ACYTOO_KEY).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def models(
    url: str | None,
    provider: str | None,
    proxy: str | None,
    timeout: float | None,
    key: str | None,
    as_json: bool,
) -> None:
    """List the model ids the configured service offers, one per line.

    OpenAI-compatible services are asked (GET /v1/models); an Acytoo server
    has no model list, so its known default is shown; the offline assistant
    lists itself.
    """
    try:
        target = resolve(
            Settings(provider=provider, url=url, proxy=proxy, timeout=timeout, key=key)
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from ._provider import provider_call

    call = provider_call(target)
    listing_options = {k: v for k, v in call.kwargs.items() if k != "temperature"}
    names = asyncio.run(call.provider.list_models(call.proxy, **listing_options))
    if as_json:
        click.echo(json.dumps(names))
        return
    for name in names:
        click.echo(name)
