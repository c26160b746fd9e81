"""``/v1`` as a pass-through, for a backend that relays raw OpenAI requests.

The client's body goes upstream byte for byte, except for the rewrites the
server owns in the body: a missing ``model`` becomes the server's default
(the allow-list is checked either way), and a model the operator aliased
(``--model-alias NAME=MODEL``) goes up under the upstream's name; its answer
is then relabelled, event by event (the one case that decodes events). The upstream key is the
server's (``Authorization``), never the client's access secret.

The answer comes back as the upstream sent it: an event stream is relayed
event by event without decoding a single JSON object (``tool_calls``
deltas, ``logprobs``, ``usage`` chunks and fields acytoo has never heard of
all pass through), a JSON completion is relayed whole. The server looks at
the bytes only to know where events end, so that a failure mid-stream is
sent as a complete ``data: {"error": ...}`` event rather than glued to half
an event, and to end the response at ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from .._base_errors import AcytooError
from .._transport import ResponseStream, ServerSentEvent, SSEDecoder, TextDecoder
from .errors import RequestError, error_body, log_failure, provider_failure
from .service import Service
from .validation import parse_embeddings_request, parse_relay_request

__all__ = ["relay_chat_completions", "relay_embeddings"]

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_DONE = (b"data: [DONE]\n\n", b"data: [DONE]\r\n\r\n")
# A JSON answer is read whole before it is relayed (so a failure is still a
# proper status); this bounds the memory one answer can take.
_MAX_JSON_BODY = 32 * 1024 * 1024
# Bytes of an unfinished event held back at most; past it they are relayed as
# they come (an upstream sending one endless line gets no boundary tracking).
_MAX_HELD = 1024 * 1024
# How long to wait for the end of the upstream body after [DONE].
_DRAIN_AFTER_DONE = 1.0


async def relay_chat_completions(
    request: web.Request, service: Service, raw: bytes, body: object
) -> web.StreamResponse:
    """Relay a ``/v1/chat/completions`` request; ``raw`` is its body as received."""
    checked = parse_relay_request(body, max_messages=service.config.max_messages)
    model = service.resolve_model(checked.model)
    upstream_model = service.upstream_model(model)
    # An operator's alias: the upstream hears its own name, the client sees the alias.
    rename = model if upstream_model != model else None
    if rename is not None:
        assert isinstance(body, dict)
        raw = json.dumps({**body, "model": upstream_model}).encode()
    elif checked.model is None:
        raw = _with_model(raw, body, model, checked.model_given)
    relay, upstream = await _open(service, "/chat/completions", raw)
    try:
        events = _is_event_stream(upstream)
        if events and rename is not None:
            return await _relay_renamed_events(request, upstream, rename)
        if events and upstream.at_eof:
            # The whole answer came in the first read (a short one usually does):
            # one response with a Content-Length, no chunked stream to run.
            return web.Response(body=upstream.first_chunk, headers=_SSE_HEADERS)
        if events:
            return await _relay_events(request, upstream)
        document = await _read_whole(upstream)
        if rename is not None:
            document = _renamed_document(document, rename)
        if checked.stream:
            # An upstream that ignores "stream" answers with one completion; the
            # client asked for events, so it gets that completion as events.
            return await _send_as_events(request, document, checked.include_usage)
        return web.Response(body=document, content_type="application/json")
    finally:
        await relay.__aexit__(None, None, None)


async def relay_embeddings(
    request: web.Request, service: Service, raw: bytes, body: object
) -> web.Response:
    """Relay a ``/v1/embeddings`` request, or 400 when the backend has no such thing."""
    if service.backend.relay is None:
        raise RequestError(
            400,
            "this server's backend does not offer embeddings",
            code="unsupported_endpoint",
        )
    model = service.resolve_model(parse_embeddings_request(body))
    upstream_model = service.upstream_model(model)
    if upstream_model != model:
        assert isinstance(body, dict)
        raw = json.dumps({**body, "model": upstream_model}).encode()
    relay, upstream = await _open(service, "/embeddings", raw)
    try:
        document = await _read_whole(upstream)
    finally:
        await relay.__aexit__(None, None, None)
    if upstream_model != model:
        document = _renamed_document(document, model)
    return web.Response(body=document, content_type="application/json")


def _with_model(raw: bytes, body: object, model: str, given: bool) -> bytes:
    """The body with ``model`` set, the rest left byte for byte where possible."""
    if given:  # "model": null: rewrite the whole object rather than add a duplicate key
        assert isinstance(body, dict)
        return json.dumps({**body, "model": model}).encode()
    # The body is a JSON object (checked): insert the key after its brace.
    start = raw.index(b"{") + 1
    return b'{"model":' + json.dumps(model).encode() + b"," + raw[start:]


async def _open(
    service: Service, path: str, raw: bytes
) -> tuple[AbstractAsyncContextManager[ResponseStream], ResponseStream]:
    """The relay and the upstream's answer after its first chunk; failures before it
    become statuses. The caller exits the relay (a plain pair rather than an
    ``@asynccontextmanager``: one generator less per request)."""
    try:
        relay = await service.open_relay(path, raw)
        upstream = await relay.__aenter__()
    except RequestError:
        raise
    except Exception as exc:
        log_failure(exc, after_text=False)
        raise provider_failure(exc) from exc
    return relay, upstream


def _is_event_stream(upstream: ResponseStream) -> bool:
    if upstream.content_type == "text/event-stream":
        return True
    # Labels lie (JSON sent as text/plain, SSE as application/json); a JSON
    # document opens with "{", an event stream never does.
    head = upstream.first_chunk.lstrip().removeprefix(b"\xef\xbb\xbf")[:1]
    return bool(head) and head != b"{"


async def _read_whole(upstream: ResponseStream) -> bytes:
    if upstream.at_eof:
        return upstream.first_chunk  # the usual small answer: nothing more to read
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in upstream.iter_bytes():
            size += len(chunk)
            if size > _MAX_JSON_BODY:
                raise RequestError(
                    502,
                    f"upstream answer larger than {_MAX_JSON_BODY} bytes",
                    type="upstream_error",
                )
            parts.append(chunk)
    except AcytooError as exc:
        log_failure(exc, after_text=False)
        raise provider_failure(exc) from exc
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def _relay_events(request: web.Request, upstream: ResponseStream) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    await response.prepare(request)
    held = b""
    try:
        try:
            async for chunk in upstream.iter_bytes():
                if held:
                    chunk, held = held + chunk, b""
                if not chunk.endswith(b"\n\n"):
                    # Usually a read ends where an event ends; when not, keep
                    # the unfinished event for the next write.
                    end = _events_end(chunk)
                    if len(chunk) - end <= _MAX_HELD:
                        chunk, held = chunk[:end], chunk[end:]
                        if not chunk:
                            continue
                if chunk.endswith(_DONE):
                    await response.write_eof(chunk)
                    await _drain(upstream)
                    return response
                await response.write(chunk)
        except AcytooError as exc:
            # The upstream failed mid-stream: the unfinished event is dropped and
            # the client gets an error event, which the openai SDK raises.
            await response.write_eof(_error_event(exc))
            return response
        # The upstream ended without [DONE]: so do we, with what it sent.
        await response.write_eof(held)
    except ConnectionError:
        pass  # the client left; leaving the context drops the upstream connection
    return response


async def _relay_renamed_events(
    request: web.Request, upstream: ResponseStream, name: str
) -> web.StreamResponse:
    """The slow path, for an aliased model: each event is decoded, relabelled ``name``
    and re-encoded (comments and event ids are not relayed)."""
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    await response.prepare(request)
    text = TextDecoder(upstream.charset)
    decoder = SSEDecoder()
    try:
        try:
            async for chunk in upstream.iter_bytes():
                block, done = _renamed_events(decoder.feed(text.decode(chunk)), name)
                if done:
                    await response.write_eof(block)
                    await _drain(upstream)
                    return response
                if block:
                    await response.write(block)
            tail = decoder.feed(text.flush()) + decoder.flush()
            await response.write_eof(_renamed_events(tail, name)[0])
        except AcytooError as exc:
            await response.write_eof(_error_event(exc))
    except ConnectionError:
        pass
    return response


def _renamed_events(events: list[ServerSentEvent], name: str) -> tuple[bytes, bool]:
    """``events`` encoded again with ``model`` set to ``name``; whether [DONE] was among them."""
    parts: list[str] = []
    for event in events:
        data = event.data
        if data == "[DONE]":
            parts.append("data: [DONE]\n\n")
            return "".join(parts).encode(), True
        try:
            chunk = json.loads(data)
        except ValueError:
            chunk = None
        if isinstance(chunk, dict) and "model" in chunk:
            chunk["model"] = name
            data = json.dumps(chunk)
        head = f"event: {event.event}\n" if event.event != "message" else ""
        parts.append(head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n")
    return "".join(parts).encode(), False


def _renamed_document(document: bytes, name: str) -> bytes:
    try:
        parsed = json.loads(document)
    except ValueError:
        return document  # not ours to judge: relayed as it came
    if not isinstance(parsed, dict) or "model" not in parsed:
        return document
    parsed["model"] = name
    return json.dumps(parsed).encode()


def _error_event(exc: AcytooError) -> bytes:
    log_failure(exc, after_text=True)
    error = error_body(provider_failure(exc), with_msg=False)
    return b"data: " + json.dumps(error).encode() + b"\n\n"


def _events_end(data: bytes) -> int:
    """The offset just past the last complete event in ``data`` (0: none)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


async def _drain(upstream: ResponseStream) -> None:
    """Read the end of the body after [DONE] so the connection can be reused, briefly."""
    if upstream.at_eof:
        return  # the usual case: the end came with [DONE]

    async def read_rest() -> None:
        async for _ in upstream.iter_bytes():
            pass

    with contextlib.suppress(asyncio.TimeoutError, AcytooError):
        await asyncio.wait_for(read_rest(), _DRAIN_AFTER_DONE)


async def _send_as_events(
    request: web.Request, document: bytes, include_usage: bool
) -> web.StreamResponse:
    try:
        completion = json.loads(document)
        events = _completion_events(completion, include_usage)
    except (ValueError, LookupError, TypeError):
        raise RequestError(
            502, "upstream answered with something other than a completion", type="upstream_error"
        ) from None
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write_eof(events)
    return response


def _completion_events(completion: Any, include_usage: bool) -> bytes:
    """A ``chat.completion`` as the ``chat.completion.chunk`` events it would stream as
    (the usage chunk only when the client asked for it, as OpenAI does)."""
    if "error" in completion:
        events = [completion]
    else:
        head = {
            key: completion[key]
            for key in ("id", "created", "model", "system_fingerprint", "service_tier")
            if key in completion
        }
        head["object"] = "chat.completion.chunk"
        events = []
        for choice in completion["choices"]:
            delta = dict(choice["message"])
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(calls)]
            events.append(
                {
                    **head,
                    "choices": [
                        {
                            "index": choice.get("index", 0),
                            "delta": delta,
                            "logprobs": choice.get("logprobs"),
                            "finish_reason": choice.get("finish_reason"),
                        }
                    ],
                }
            )
        if include_usage and completion.get("usage") is not None:
            events.append({**head, "choices": [], "usage": completion["usage"]})
    text = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
    return (text + "data: [DONE]\n\n").encode()
