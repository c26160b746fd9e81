"""Showing a URL without the credentials it may carry.

An upstream or proxy URL may hold ``user:password@``; every message, log line
and error attribute that shows a URL goes through :func:`redact_url`. It
needs no HTTP library (the command line's config checks use it too).
"""

from __future__ import annotations

import re

from yarl import URL

__all__ = ["redact_url"]

# For text that does not parse as a URL (a config value being rejected):
# everything from "scheme://" to the last "@" before any query or fragment
# goes, even if that hides part of a path; showing a password would be worse.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^?#]*@)")


def redact_url(url: str | URL) -> str:
    """``url`` as text without its user name and password (``***@`` marks where they were).

    Works on text that is not a valid URL too: whatever stands between
    ``scheme://`` and the last ``@`` of the authority is dropped.
    """
    if isinstance(url, URL):
        if url.raw_user is None and url.raw_password is None:
            return str(url)
        return _mark(url.with_user(None))
    text = str(url)
    if "@" not in text:
        return text  # the common case: nothing to hide, no parsing
    try:
        parsed = URL(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.absolute and parsed.host:
        return redact_url(parsed) if parsed.raw_user or parsed.raw_password else text
    match = _USERINFO.match(text)
    if match is None:
        return text
    return match["scheme"] + "***@" + text[match.end() :]


def _mark(url: URL) -> str:
    scheme, _, rest = str(url).partition("://")
    return f"{scheme}://***@{rest}" if rest else str(url)
