"""Exit codes of the ``acytoo`` command, and the one place errors become them.

Errors are mapped here, at the edge, most specific first. The HTTP error
classes live in :mod:`acytoo.errors`, which imports aiohttp; when that module
was never imported none of its errors can have been raised, so the mapping
looks it up in ``sys.modules`` instead of importing it (``--help`` and the
offline assistant stay free of aiohttp).
"""

from __future__ import annotations

import sys

from .._base_errors import AllProvidersFailedError, InvalidRequestError, StreamError

__all__ = [
    "BROKEN_PIPE",
    "CONNECT",
    "EPILOG",
    "ERROR",
    "HTTP_STATUS",
    "INTERRUPTED",
    "OK",
    "STREAM_BROKEN",
    "TERMINATED",
    "USAGE",
    "exit_code_for",
]

OK = 0
"""The answer arrived completely."""
ERROR = 1
"""Any other failure (unreadable config file, history database, ...)."""
USAGE = 2
"""Wrong options or arguments (click's own code), invalid temperature, URL, conversation id."""
CONNECT = 3
"""The service could not be reached, or a time limit was hit (connect or idle)."""
HTTP_STATUS = 4
"""The service answered with an HTTP error status (401 wrong password, 429, 5xx, ...)."""
STREAM_BROKEN = 5
"""The answer started but broke off (the service reported an error or the body was cut)."""
INTERRUPTED = 130
"""Stopped with Ctrl-C (128 + SIGINT, the shell's convention)."""
TERMINATED = 143
"""Stopped by SIGTERM while an answer streamed (128 + SIGTERM); the partial answer is kept."""
BROKEN_PIPE = 141
"""The reader of stdout went away (``| head -1``): output ends quietly, with the
status the shell gives any tool a closed pipe stops (128 + SIGPIPE)."""

EPILOG = (
    "Exit codes: 0 ok; 1 other error; 2 usage (bad option, temperature, URL or "
    "conversation id); 3 cannot connect or timed out; 4 HTTP error status from the "
    "service; 5 the answer broke off mid-stream; 130 interrupted (Ctrl-C); 141 "
    "stdout closed by its reader (| head); 143 terminated (SIGTERM)."
)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for ``exc`` (an exception that reached the command line's edge)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, AllProvidersFailedError):
        # Failover tried everything: report the last failure's kind.
        return exit_code_for(exc.errors[-1][1]) if exc.errors else ERROR
    if isinstance(exc, InvalidRequestError):
        return USAGE
    if isinstance(exc, StreamError):
        return STREAM_BROKEN
    errors = sys.modules.get("acytoo.errors")
    if errors is not None:
        if isinstance(exc, errors.APIStatusError):
            return HTTP_STATUS
        if isinstance(exc, errors.IncompleteResponseError):
            return STREAM_BROKEN
        if isinstance(exc, (errors.ConnectError, errors.APITimeoutError)):
            return CONNECT
    return ERROR
