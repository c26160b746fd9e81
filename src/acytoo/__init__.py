"""acytoo: streaming chat completions over the Acytoo chat protocol.

>>> import acytoo
>>> messages = [{"role": "user", "content": "Hello, Acytoo!"}]
>>> async for text in acytoo.Acytoo.create_async_generator("gpt-3.5-turbo", messages):
...     print(text, end="")
"""

from ._transport import RetryPolicy, Timeout, aclose_sessions
from .errors import (
    AcytooError,
    AllProvidersFailedError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    ConnectTimeout,
    IncompleteResponseError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProxyError,
    RateLimitError,
    ReadTimeout,
    RequestTooLargeError,
    StreamError,
    TimeoutError,
    TransportError,
    UnprocessableEntityError,
)
from .providers import Acytoo, AsyncGeneratorProvider, ProviderType, provider_name
from .typing import AsyncResult, CreateResult, Message, Messages

__version__ = "0.1.0"

__all__ = [
    "APIStatusError",
    "Acytoo",
    "AcytooError",
    "AllProvidersFailedError",
    "AsyncGeneratorProvider",
    "AsyncResult",
    "AuthenticationError",
    "BadRequestError",
    "ConnectError",
    "ConnectTimeout",
    "CreateResult",
    "IncompleteResponseError",
    "InternalServerError",
    "InvalidRequestError",
    "Message",
    "Messages",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderType",
    "ProxyError",
    "RateLimitError",
    "ReadTimeout",
    "RequestTooLargeError",
    "RetryPolicy",
    "StreamError",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
    "aclose_sessions",
    "provider_name",
]
