"""Which environment API key may go to which service: one rule for the library, CLI and server.

``OPENAI_API_KEY`` is sent only to the origin it was set up for: OpenAI's own
API (``https://api.openai.com``) or the origin of ``OPENAI_BASE_URL`` (the
user paired the two in the same environment). Any other base URL, named on
a command line, in a config file or in code, gets an explicit key or none:
a key for one service must not leak to another because both use the same
protocol. The comparison is by origin (scheme, host and port), so a path
such as ``/v1`` does not matter but ``http://`` vs ``https://`` does.
"""

from __future__ import annotations

import os

from yarl import URL

__all__ = [
    "API_KEY_ENVIRONMENT_VARIABLE",
    "BASE_URL_ENVIRONMENT_VARIABLE",
    "OPENAI_ORIGIN",
    "environment_api_key",
]

API_KEY_ENVIRONMENT_VARIABLE = "OPENAI_API_KEY"
BASE_URL_ENVIRONMENT_VARIABLE = "OPENAI_BASE_URL"
OPENAI_ORIGIN = URL("https://api.openai.com")


def environment_api_key(base_url: URL) -> str:
    """``OPENAI_API_KEY`` when ``base_url`` is where that key belongs, else ``""``."""
    key = os.environ.get(API_KEY_ENVIRONMENT_VARIABLE, "")
    if not key:
        return ""
    if _origin(base_url) == _origin(OPENAI_ORIGIN):
        return key
    paired = os.environ.get(BASE_URL_ENVIRONMENT_VARIABLE)
    if paired:
        try:
            paired_url = URL(paired)
        except ValueError:
            return ""
        if paired_url.absolute and _origin(base_url) == _origin(paired_url):
            return key
    return ""


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)
