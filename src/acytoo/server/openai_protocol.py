"""``/v1/chat/completions`` and ``/v1/models``: OpenAI's Chat Completions protocol.

With a backend that relays raw requests (an OpenAI-compatible upstream),
requests and answers pass through :mod:`.openai_relay` instead. Otherwise:
streaming answers are Server-Sent Events of ``chat.completion.chunk`` objects
ending with ``data: [DONE]``; a failure after the first event is sent as a
``data: {"error": {...}}`` event, which the ``openai`` SDK raises. Text that
arrives together is sent as one event. ``usage`` is an estimate (about four
characters per token): acytoo does not know the upstream's tokenizer.
"""

from __future__ import annotations

import json
import secrets
import time

from aiohttp import web

from .errors import RequestError, error_body, log_failure, provider_failure
from .openai_relay import relay_chat_completions, relay_embeddings
from .service import SERVICE, Answer, Service
from .validation import CompletionRequest, parse_openai_request, read_raw_json_body

__all__ = ["handle_chat_completions", "handle_embeddings", "handle_models"]

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def check_bearer(request: web.Request, service: Service) -> None:
    """401 in OpenAI's shape unless the request carries an access secret (when any is set)."""
    if not service.protected:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not service.check_secret(token.strip()):
        raise RequestError(
            401,
            "Incorrect or missing API key: send Authorization: Bearer <key>",
            type="invalid_request_error",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def handle_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: what the backend offers (or the allow-list)."""
    service = request.app[SERVICE]
    check_bearer(request, service)
    models = await service.list_models()
    data = [
        {"id": model, "object": "model", "created": 0, "owned_by": "acytoo"} for model in models
    ]
    return web.json_response({"object": "list", "data": data})


async def handle_chat_completions(request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``, streaming or not.

    A backend that relays raw requests gets the body as it is
    (:mod:`.openai_relay`); the others get the checked messages as text.
    """
    service = request.app[SERVICE]
    check_bearer(request, service)
    raw, body = await read_raw_json_body(
        request, service.config.max_body, service.config.body_timeout
    )
    if service.backend.relay is not None:
        return await relay_chat_completions(request, service, raw, body)
    completion = parse_openai_request(body, max_messages=service.config.max_messages)
    answer = await service.start(completion)
    if completion.stream:
        return await _stream_events(request, completion, answer)
    return await _whole_answer(completion, answer)


async def handle_embeddings(request: web.Request) -> web.Response:
    """``POST /v1/embeddings``: relayed to a backend that has it, else 400."""
    service = request.app[SERVICE]
    check_bearer(request, service)
    raw, body = await read_raw_json_body(request, service.config.max_body)
    return await relay_embeddings(request, service, raw, body)


def estimate_tokens(text: str) -> int:
    """A rough token count: about four characters per token."""
    return (len(text) + 3) // 4


def _usage(completion: CompletionRequest, answer_chars: int) -> dict[str, int]:
    prompt = sum(estimate_tokens(message["content"]) + 4 for message in completion.messages)
    answer = (answer_chars + 3) // 4
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer}


async def _whole_answer(completion: CompletionRequest, answer: Answer) -> web.Response:
    parts: list[str] = []
    try:
        text = answer.first
        while text is not None:
            parts.append(text)
            text = await answer.pump.next_batch()
    except Exception as exc:
        log_failure(exc, after_text=True)
        raise provider_failure(exc) from exc
    finally:
        await answer.pump.aclose()
    content = "".join(parts)
    return web.json_response(
        {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(completion, len(content)),
        },
        dumps=_dumps,
    )


async def _stream_events(
    request: web.Request, completion: CompletionRequest, answer: Answer
) -> web.StreamResponse:
    head = (
        f'{{"id":"{_completion_id()}","object":"chat.completion.chunk",'
        f'"created":{int(time.time())},"model":{json.dumps(answer.model)},"choices":'
    )
    # Each event is the fixed head plus one choice: no per-event dict building.
    open_choice = "data: " + head + '[{"index":0,"delta":'
    close_choice = ',"logprobs":null,"finish_reason":null}]}\n\n'
    response = web.StreamResponse(status=200, headers=_SSE_HEADERS)
    sent = 0
    try:
        await response.prepare(request)
        text = answer.first
        events = [open_choice + '{"role":"assistant","content":""}' + close_choice]
        while text is not None:
            sent += len(text)
            events.append(open_choice + '{"content":' + _dumps(text) + "}" + close_choice)
            if answer.pump.finished:
                break  # the end goes out in the same write
            await response.write(_encode("".join(events)))
            events.clear()
            try:
                text = await answer.pump.next_batch()
            except Exception as exc:
                log_failure(exc, after_text=True)
                error = provider_failure(exc)
                event = "data: " + _dumps(error_body(error, with_msg=False)) + "\n\n"
                await response.write_eof(_encode(event))
                return response
        events.append(open_choice + '{},"logprobs":null,"finish_reason":"stop"}]}\n\n')
        if completion.include_usage:
            usage = _dumps(_usage(completion, sent))
            events.append("data: " + head + '[],"usage":' + usage + "}\n\n")
        events.append("data: [DONE]\n\n")
        await response.write_eof(_encode("".join(events)))
    except ConnectionError:
        pass
    finally:
        await answer.pump.aclose()
    return response


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _encode(text: str) -> bytes:
    # A backend may yield a lone surrogate (from a JSON escape); never fail on it.
    return text.encode("utf-8", "replace")


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
