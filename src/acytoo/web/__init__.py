"""The chat page: static files (package data) served at ``/``, and its render endpoint.

The page is a client of the server like any other: it speaks the Acytoo
protocol to ``POST /api/completions``, lists models with ``GET /v1/models``
and keeps conversations in the browser. The only thing it needs from Python
is Markdown rendering, ``POST /api/render``.

>>> app = web.Application()
>>> add_web_routes(app)  # what create_app does unless ServerConfig(web=False)
"""

from __future__ import annotations

from aiohttp import web

from ._assets import Assets
from ._render import handle_render

__all__ = ["add_web_routes"]


def add_web_routes(app: web.Application) -> None:
    """Serve the page at ``/`` and ``/static/<name>``, and ``POST /api/render``."""
    assets = Assets.load()
    app.router.add_get("/", assets.handle_index)
    app.router.add_get("/static/{name}", assets.handle_static)
    app.router.add_post("/api/render", handle_render)
