"""The application keys shared by the handlers."""

from __future__ import annotations

from aiohttp import web

from .service import Service

__all__ = ["SERVICE"]

SERVICE = web.AppKey("acytoo_service", Service)
