"""acytoo: streaming chat completions over the Acytoo chat protocol.

>>> import acytoo
>>> messages = [{"role": "user", "content": "Hello, Acytoo!"}]
>>> async for text in acytoo.Acytoo.create_async_generator("gpt-3.5-turbo", messages):
...     print(text, end="")
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr

if TYPE_CHECKING:
    from ._chat_completion import ChatCompletion, Provider
    from ._transport import RetryPolicy, Timeout, aclose_sessions, set_max_connections
    from ._types import AsyncResult, CreateResult, Message, Messages
    from .errors import (
        AcytooError,
        AllProvidersFailedError,
        APIStatusError,
        APITimeoutError,
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
    from .providers import (
        Acytoo,
        AsyncGeneratorProvider,
        Local,
        OpenAICompatible,
        ProviderType,
        RetryProvider,
        provider_name,
    )

_LOCATIONS = {
    "aclose_sessions": "._transport",
    "Acytoo": ".providers",
    "AcytooError": "._base_errors",
    "AllProvidersFailedError": "._base_errors",
    "APIStatusError": ".errors",
    "APITimeoutError": ".errors",
    "AsyncGeneratorProvider": ".providers",
    "AsyncResult": "._types",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "ChatCompletion": "._chat_completion",
    "ConnectError": ".errors",
    "ConnectTimeout": ".errors",
    "CreateResult": "._types",
    "IncompleteResponseError": ".errors",
    "InternalServerError": ".errors",
    "InvalidRequestError": "._base_errors",
    "Local": ".providers",
    "Message": "._types",
    "Messages": "._types",
    "NotFoundError": ".errors",
    "OpenAICompatible": ".providers",
    "PermissionDeniedError": ".errors",
    "provider_name": ".providers",
    "Provider": "._chat_completion",
    "ProviderType": ".providers",
    "ProxyError": ".errors",
    "RateLimitError": ".errors",
    "ReadTimeout": ".errors",
    "RetryProvider": ".providers",
    "RequestTooLargeError": ".errors",
    "RetryPolicy": "._transport",
    "set_max_connections": "._transport",
    "StreamError": "._base_errors",
    "Timeout": "._transport",
    "TimeoutError": ".errors",
    "TransportError": ".errors",
    "UnprocessableEntityError": ".errors",
}

__version__ = "0.1.0"

__all__ = [
    "APIStatusError",
    "APITimeoutError",
    "Acytoo",
    "AcytooError",
    "AllProvidersFailedError",
    "AsyncGeneratorProvider",
    "AsyncResult",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ConnectError",
    "ConnectTimeout",
    "CreateResult",
    "IncompleteResponseError",
    "InternalServerError",
    "InvalidRequestError",
    "Local",
    "Message",
    "Messages",
    "NotFoundError",
    "OpenAICompatible",
    "PermissionDeniedError",
    "Provider",
    "ProviderType",
    "ProxyError",
    "RateLimitError",
    "ReadTimeout",
    "RequestTooLargeError",
    "RetryPolicy",
    "RetryProvider",
    "StreamError",
    "Timeout",
    "TimeoutError",
    "TransportError",
    "UnprocessableEntityError",
    "__version__",
    "aclose_sessions",
    "provider_name",
    "set_max_connections",
]

__getattr__ = lazy_getattr(__name__, _LOCATIONS)
