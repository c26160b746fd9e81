"""``POST /api/completions``: the Acytoo protocol, as the original server spoke it.

The answer is ``text/plain; charset=utf-8``, chunked, the raw text as it is
generated. The 200 is sent only once the backend's first text has arrived,
so a failure before that is a real HTTP error with the upstream's status. A
failure after text was sent closes the connection without the final chunk:
the client sees an incomplete body, never a clean end.
"""

from __future__ import annotations

from aiohttp import web

from .errors import RequestError, log_failure
from .service import SERVICE, Answer, Service
from .validation import parse_acytoo_request, read_json_body

__all__ = ["check_password", "handle_completions"]

_TEXT_HEADERS = {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-cache",
    # Ask reverse proxies (nginx) not to buffer the stream.
    "X-Accel-Buffering": "no",
}


async def handle_completions(request: web.Request) -> web.StreamResponse:
    """Answer one Acytoo-protocol request."""
    service = request.app[SERVICE]
    body = await read_json_body(request, service.config.max_body, service.config.body_timeout)
    # Checked first, as the original did: password, then key, then model.
    check_password(body, service)
    completion = parse_acytoo_request(body, max_messages=service.config.max_messages)
    answer = await service.start(completion)
    return await _stream_text(request, answer)


def check_password(body: object, service: Service) -> None:
    """401 unless the body's ``password`` field holds an access secret (when any is set)."""
    if service.protected:
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str) or not service.check_secret(password):
            raise RequestError(401, "No password or wrong password", type="authentication_error")


async def _stream_text(request: web.Request, answer: Answer) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=_TEXT_HEADERS)
    try:
        await response.prepare(request)
        text = answer.first
        while text is not None:
            # "replace": a backend may yield a lone surrogate (from a JSON escape).
            data = text.encode("utf-8", "replace")
            if answer.pump.finished:
                # The last text and the end of the body in one write (one system call).
                await response.write_eof(data)
                return response
            await response.write(data)
            try:
                text = await answer.pump.next_batch()
            except Exception as exc:
                log_failure(exc, after_text=True)
                # No await after this: the handler must return before the closed
                # connection is noticed (which would cancel it).
                _cut_short(request)
                return response
    except ConnectionError:
        # The client went away; closing the pump below stops the upstream.
        return response
    finally:
        await answer.pump.aclose()
    await response.write_eof()
    return response


def _cut_short(request: web.Request) -> None:
    """End the response without its terminating chunk so the client knows it is incomplete.

    ``close()`` (not ``abort()``) sends what is already buffered first.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
