"""The one transport layer every HTTP provider shares."""

from ._context import EXTRA_HEADERS
from ._decoders import ServerSentEvent, SSEDecoder, TextDecoder
from ._options import DEFAULT_MAX_RETRIES, RetryPolicy, Timeout
from ._pool import aclose_sessions, pooled_session, set_connection_limit
from ._stream import HTTPRequest, ResponseStream, TransportOptions, error_detail, open_stream

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "EXTRA_HEADERS",
    "HTTPRequest",
    "ResponseStream",
    "RetryPolicy",
    "SSEDecoder",
    "ServerSentEvent",
    "TextDecoder",
    "Timeout",
    "TransportOptions",
    "aclose_sessions",
    "error_detail",
    "open_stream",
    "pooled_session",
    "set_connection_limit",
]
