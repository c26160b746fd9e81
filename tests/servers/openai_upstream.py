"""A real, scriptable OpenAI-compatible upstream on 127.0.0.1.

It serves ``POST /v1/chat/completions`` (SSE when the request asks for
``stream``, else one JSON completion; ``n`` choices; a final usage chunk
when ``stream_options.include_usage`` is set), ``POST /v1/embeddings`` and
``GET /v1/models``, records every
request it receives (headers, including ``Authorization``, and body), and
answers either with its default reply or with the next scripted one.

Scripted replies misbehave the ways real upstreams do: an SSE body cut into
writes at arbitrary byte offsets (even inside a UTF-8 character), CRLF line
ends, comments, multi-line ``data``, a missing ``data: [DONE]``, an error
event in the middle of the stream, an abrupt close, error statuses with
OpenAI error bodies, a JSON body where SSE was asked for, and a stall that
lasts until the client leaves (``disconnected`` is then set). Tool calls
are scripted with :func:`tool_call_events` (streamed) and
:func:`completion` (``tool_calls=``).

Knobs besides scripted replies: ``answer`` (the default reply's text, or a
function of the request body), ``models`` (the default model list) and
``api_keys`` (when set, other bearer tokens get OpenAI's 401). Events:
``received`` (a request arrived), ``streaming`` (a reply's scripted events
were written), ``disconnected`` (a client left mid-response).

Use it through the fixtures::

    async def test_something(openai_upstream: OpenAIUpstream) -> None:
        openai_upstream.reply(SSEReply([chunk("Hel"), chunk("lo")]))
        ...  # talk to openai_upstream.base_url (ends in /v1)
        assert openai_upstream.requests[0].authorization == "Bearer sk-test"

``openai_upstream`` runs in the test's own event loop;
``threaded_openai_upstream`` runs on a background thread for synchronous
clients (the sync bridge, the ``openai`` SDK's sync client).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._scripted import MAX_HOLD_SECONDS, ScriptedServer, peer, running, running_threaded

__all__ = [
    "DEFAULT_ANSWER",
    "DEFAULT_MODELS",
    "USAGE",
    "JSONReply",
    "OpenAIUpstream",
    "ReceivedRequest",
    "SSEReply",
    "chunk",
    "completion",
    "error_body",
    "error_reply",
    "openai_upstream",
    "text_events",
    "threaded_openai_upstream",
    "tool_call_events",
    "usage_chunk",
]

DEFAULT_ANSWER = "Hello from the upstream! ✓"
DEFAULT_MODELS = ("gpt-3.5-turbo", "gpt-4o-mini")
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
"""The upstream's own token counts (a server estimating them would not get these)."""

Event = Mapping[str, Any] | str
Ending = Literal["complete", "abort", "hold"]


@dataclass(frozen=True)
class SSEReply:
    """A ``text/event-stream`` answer.

    ``events``: a mapping is sent as ``data: <json>`` plus a blank line; a
    string is sent verbatim (write comments, ``event:`` fields or multi-line
    ``data`` that way, with its own blank line). ``done`` appends
    ``data: [DONE]``. Every ``\\n`` of the body becomes ``line_ending``.

    ``split``: ``None`` writes each event on its own; an int writes the body
    in pieces of that many bytes; a sequence of ints cuts it at those byte
    offsets. Each write is flushed, so the client reads them apart unless
    its reads happen to coalesce them.

    ``ending``: ``complete`` ends the body properly, ``abort`` closes the
    connection without the final chunk (an incomplete body), ``hold`` sends
    nothing more until :meth:`OpenAIUpstream.release` or the client leaves,
    then a proper end. With ``hold`` and ``split=None`` the ``[DONE]`` event
    is held back too; with a ``split`` it goes out before the hold, so only
    the end of the body waits.

    ``gate``: when set, the server waits for this event (bounded) before
    sending the status line, to hold back the first byte.
    """

    events: Sequence[Event] = ()
    done: bool = True
    line_ending: str = "\n"
    split: int | Sequence[int] | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    ending: Ending = "complete"
    gate: asyncio.Event | None = None

    def body(self) -> bytes:
        """The whole body as it is put on the wire (before any split)."""
        return b"".join(self._blocks())

    def _blocks(self) -> list[bytes]:
        blocks = [_event_text(event) for event in self.events]
        if self.done:
            blocks.append("data: [DONE]\n\n")
        return [block.replace("\n", self.line_ending).encode() for block in blocks]

    def pieces(self) -> list[bytes]:
        """The body cut into the writes this reply makes."""
        if self.split is None:
            return self._blocks()
        body = self.body()
        if isinstance(self.split, int):
            size = max(1, self.split)
            return [body[i : i + size] for i in range(0, len(body), size)]
        cuts = sorted({0, *(c for c in self.split if 0 < c < len(body)), len(body)})
        return [body[a:b] for a, b in itertools.pairwise(cuts) if b > a]


@dataclass(frozen=True)
class JSONReply:
    """A JSON answer: a completion, a model list or an error body."""

    body: object
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    gate: asyncio.Event | None = None


Reply = SSEReply | JSONReply


@dataclass(frozen=True)
class ReceivedRequest:
    """One request exactly as the server received it."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    peer: tuple[str, int] | None = None
    """The client's address and port: the same port means a reused connection."""
    query: str = ""
    """The query string as received (without the ``?``)."""

    @property
    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header as sent, if any."""
        return self.headers.get("Authorization")


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    model: str = "gpt-3.5-turbo",
    index: int = 0,
    tool_calls: list[dict[str, Any]] | None = None,
    logprobs: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object as OpenAI streams them (``extra``: more top-level keys)."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": [choice],
        **extra,
    }


def usage_chunk(usage: Mapping[str, int] = USAGE, model: str = "gpt-3.5-turbo") -> dict[str, Any]:
    """The final chunk of a stream asked for ``stream_options.include_usage``."""
    return {**chunk(model=model), "choices": [], "usage": dict(usage)}


def tool_call_events(
    name: str,
    arguments: Sequence[str],
    *,
    call_id: str = "call_test_1",
    model: str = "gpt-3.5-turbo",
) -> list[dict[str, Any]]:
    """A streamed tool call as OpenAI sends it: the call's head, then its arguments in pieces."""
    head = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    return [
        chunk(role="assistant", content=None, tool_calls=[head], model=model),
        *(
            chunk(tool_calls=[{"index": 0, "function": {"arguments": piece}}], model=model)
            for piece in arguments
        ),
        chunk(finish_reason="tool_calls", model=model),
    ]


def text_events(pieces: Sequence[str], model: str = "gpt-3.5-turbo") -> list[dict[str, Any]]:
    """The chunks OpenAI streams for an answer: role, one per piece, finish."""
    return [
        chunk(role="assistant", content="", model=model),
        *(chunk(piece, model=model) for piece in pieces),
        chunk(finish_reason="stop", model=model),
    ]


def completion(
    content: str | None,
    model: str = "gpt-3.5-turbo",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    choices: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object (``choices`` copies of the message)."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
            for index in range(choices)
        ],
        "usage": dict(USAGE),
        **extra,
    }


def error_body(
    message: str, type: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape: ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def error_reply(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONReply:
    """An error status with an OpenAI error body."""
    return JSONReply(error_body(message, type, code), status=status, headers=dict(headers or {}))


class OpenAIUpstream(ScriptedServer):
    """The scriptable upstream; use it through the fixtures."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ReceivedRequest] = []
        """Every request received, in order."""
        self.answer: str | Callable[[Mapping[str, Any]], str] = DEFAULT_ANSWER
        """The default answer's text, or a function of the request body giving it."""
        self.models: Sequence[str] = DEFAULT_MODELS
        """What the default ``GET /v1/models`` lists."""
        self.api_keys: set[str] = set()
        """When non-empty, other bearer tokens get 401 (before any scripted reply)."""
        self.received = asyncio.Event()
        """Set when a request has arrived (clear it to wait for the next)."""
        self._chat_replies: collections.deque[Reply] = collections.deque()
        self._model_replies: collections.deque[Reply] = collections.deque()
        self._embedding_replies: collections.deque[Reply] = collections.deque()

    @property
    def base_url(self) -> str:
        """The API base URL, ending in ``/v1`` (what ``base_url=`` options take)."""
        return f"{self.url}/v1"

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        """The requests to ``/v1/chat/completions``."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def reply(self, *replies: Reply) -> None:
        """Queue answers for the next chat completion requests, in order."""
        self._chat_replies.extend(replies)

    @property
    def embedding_requests(self) -> list[ReceivedRequest]:
        """The requests to ``/v1/embeddings``."""
        return [r for r in self.requests if r.path == "/v1/embeddings"]

    def reply_embeddings(self, *replies: Reply) -> None:
        """Queue answers for the next ``POST /v1/embeddings`` requests, in order."""
        self._embedding_replies.extend(replies)

    def reply_models(self, *replies: Reply) -> None:
        """Queue answers for the next ``GET /v1/models`` requests, in order."""
        self._model_replies.extend(replies)

    def reset_events(self) -> None:
        """Clear ``received``, ``disconnected``, ``streaming`` and the release flag."""
        self._call(self.received.clear)
        super().reset_events()

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _record(self, request: web.Request) -> ReceivedRequest:
        received = ReceivedRequest(
            method=request.method,
            path=request.path,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=await request.read(),
            peer=peer(request),
            query=request.query_string,
        )
        self.requests.append(received)
        self.received.set()
        return received

    def _unauthorized(self, received: ReceivedRequest) -> JSONReply | None:
        if not self.api_keys:
            return None
        token = (received.authorization or "").removeprefix("Bearer ")
        if token in self.api_keys:
            return None
        return error_reply(401, "Incorrect API key provided.", code="invalid_api_key")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        reply = self._unauthorized(received)
        if reply is None and self._chat_replies:
            reply = self._chat_replies.popleft()
        if reply is None:
            reply = self._default_chat(received)
        return await self._send(request, reply)

    def _default_chat(self, received: ReceivedRequest) -> Reply:
        try:
            body = received.json
        except ValueError:
            return error_reply(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_reply(400, "'messages' is a required property")
        model = body.get("model") if isinstance(body.get("model"), str) else "gpt-3.5-turbo"
        text = self.answer(body) if callable(self.answer) else self.answer
        n = body.get("n") if isinstance(body.get("n"), int) else 1
        if body.get("stream"):
            words = text.split(" ")
            pieces = [w + " " for w in words[:-1]] + [words[-1]]
            events = text_events(pieces, model)
            if n > 1:
                events = [
                    {**e, "choices": [{**e["choices"][0], "index": i}]}
                    for e in events
                    for i in range(n)
                ]
            options = body.get("stream_options")
            if isinstance(options, dict) and options.get("include_usage"):
                events.append(usage_chunk(model=model))
            return SSEReply(events)
        return JSONReply(completion(text, model, choices=n))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        reply = self._unauthorized(received)
        if reply is None and self._embedding_replies:
            reply = self._embedding_replies.popleft()
        if reply is None:
            body = received.json
            inputs = body.get("input") if isinstance(body, dict) else None
            count = len(inputs) if isinstance(inputs, list) else 1
            data = [
                {"object": "embedding", "index": i, "embedding": [0.25, -0.5, float(i)]}
                for i in range(count)
            ]
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            model = body.get("model") if isinstance(body, dict) else None
            reply = JSONReply({"object": "list", "data": data, "model": model, "usage": usage})
        return await self._send(request, reply)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        reply = self._unauthorized(received)
        if reply is None and self._model_replies:
            reply = self._model_replies.popleft()
        if reply is None:
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.models
            ]
            reply = JSONReply({"object": "list", "data": data})
        return await self._send(request, reply)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return await self._send(request, error_reply(404, f"Unknown path {request.path}"))

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        try:
            if reply.gate is not None:
                await asyncio.wait_for(reply.gate.wait(), MAX_HOLD_SECONDS)
            if isinstance(reply, JSONReply):
                return _json_response(reply)
            return await self._stream(request, reply)
        except (asyncio.CancelledError, ConnectionError):
            self.disconnected.set()
            raise

    async def _stream(self, request: web.Request, reply: SSEReply) -> web.StreamResponse:
        headers = {"Content-Type": reply.content_type, "Cache-Control": "no-cache"}
        response = web.StreamResponse(status=reply.status, headers={**headers, **reply.headers})
        response.enable_chunked_encoding()
        await response.prepare(request)
        pieces = reply.pieces()
        held_back: list[bytes] = []
        if reply.ending == "hold" and reply.done and reply.split is None:
            held_back = [pieces.pop()]  # [DONE] waits for the release
        for piece in pieces:
            await response.write(piece)
        self.streaming.set()
        if reply.ending == "hold":
            await asyncio.wait_for(self._release.wait(), MAX_HOLD_SECONDS)
            for piece in held_back:
                await response.write(piece)
        elif reply.ending == "abort":
            assert request.transport is not None
            request.transport.close()
            # The closed connection cancels this handler (handler_cancellation).
            await asyncio.sleep(MAX_HOLD_SECONDS)
            raise AssertionError("the connection was not closed")
        await response.write_eof()
        return response


def _event_text(event: Event) -> str:
    if isinstance(event, str):
        return event
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


def _json_response(reply: JSONReply) -> web.Response:
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    headers = {"Content-Type": reply.content_type, **reply.headers}
    return web.Response(status=reply.status, body=body, headers=headers)


@pytest.fixture
async def openai_upstream() -> AsyncIterator[OpenAIUpstream]:
    """A scriptable OpenAI-compatible upstream in the test's event loop."""
    async with running(OpenAIUpstream()) as server:
        yield server


@pytest.fixture
def threaded_openai_upstream() -> Iterator[OpenAIUpstream]:
    """A scriptable OpenAI-compatible upstream on a background thread."""
    with running_threaded(OpenAIUpstream, "openai-upstream") as server:
        yield server
