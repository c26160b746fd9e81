"""The one transport layer every HTTP provider shares."""

from ._context import EXTRA_HEADERS
from ._decoders import ServerSentEvent, SSEDecoder, TextDecoder
from ._options import DEFAULT_MAX_RETRIES, SHOULD_RETRY_HEADER, RetryPolicy, Timeout
from ._pool import DEFAULT_MAX_CONNECTIONS, aclose_sessions, pooled_session, set_max_connections
from ._stream import HTTPRequest, ResponseStream, TransportOptions, error_detail, open_stream

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RETRIES",
    "EXTRA_HEADERS",
    "SHOULD_RETRY_HEADER",
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
    "set_max_connections",
]
