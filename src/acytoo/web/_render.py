"""``POST /api/render``: Markdown to safe HTML for the page.

Body ``{"text": str, "partial": bool, "password": str}``; answer
``{"final_html", "final_lines", "tail_html"}`` (see
:func:`acytoo.web.markdown.render_blocks`). A protected server wants its
password here too, as on ``/api/completions``: rendering costs CPU.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ..server.acytoo_protocol import check_password
from ..server.errors import RequestError
from ..server.service import SERVICE
from ..server.validation import read_json_body
from ._assets import SECURITY_HEADERS
from .markdown import Rendered, render_blocks

__all__ = ["handle_render"]

# Rendering is pure Python: larger texts go to a thread so the event loop
# keeps serving other streams meanwhile (smaller ones cost less than the hop).
_THREAD_ABOVE = 16 * 1024


async def handle_render(request: web.Request) -> web.Response:
    """Render a Markdown text (or the open tail of a growing answer)."""
    service = request.app[SERVICE]
    body = await read_json_body(request, service.config.max_body)
    check_password(body, service)
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    text = body.get("text")
    if not isinstance(text, str):
        raise RequestError(400, "text must be a string", param="text")
    partial = body.get("partial", False)
    if not isinstance(partial, bool):
        raise RequestError(400, "partial must be a boolean", param="partial")
    rendered: Rendered
    if len(text) > _THREAD_ABOVE:
        loop = asyncio.get_running_loop()
        rendered, cpu_ms = await loop.run_in_executor(None, _render, text, partial)
    else:
        rendered, cpu_ms = _render(text, partial)
    return web.json_response(
        {
            "final_html": rendered.final_html,
            "final_lines": rendered.final_lines,
            "tail_html": rendered.tail_html,
        },
        headers={
            "X-Content-Type-Options": SECURITY_HEADERS["X-Content-Type-Options"],
            "Cache-Control": "no-store",
            # What the benchmark adds up (and a browser's devtools show): the
            # CPU time of the render, which, unlike the wall time, does not
            # count the moments the process waited for a core.
            "Server-Timing": f'render;desc="CPU";dur={cpu_ms:.3f}',
        },
    )


def _render(text: str, partial: bool) -> tuple[Rendered, float]:
    """The rendering and the CPU milliseconds it took (of this thread: it may be a worker)."""
    started = time.thread_time()
    rendered = render_blocks(text, partial=partial)
    return rendered, (time.thread_time() - started) * 1000
