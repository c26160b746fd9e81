"""The page's files, read once from the package, served with ETags, gzip and strict headers.

Every file is revalidated (``Cache-Control: no-cache`` plus a strong ETag of
its content), so a new version is picked up on the next load and an
unchanged one costs a 304. The compressed copy is made once, at start-up:
the whole page is a few dozen kilobytes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

from aiohttp import web

__all__ = ["SECURITY_HEADERS", "Assets"]

# Scripts, styles, images and requests only from the page's own origin; no
# inline script or style; nothing may frame the page. img-src 'self' keeps
# answers from loading images from anywhere else (the renderer makes images
# links anyway).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, gzip-compressed bytes, type and ETag."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Asset:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        # mtime=0: the same bytes every start, so nothing varies but the content.
        return cls(body, gzip.compress(body, 9, mtime=0), content_type, etag)

    def response(self, request: web.Request) -> web.Response:
        headers = {
            **SECURITY_HEADERS,
            "ETag": self.etag,
            "Cache-Control": "no-cache",
            "Vary": "Accept-Encoding",
        }
        if _matches(request.headers.get("If-None-Match", ""), self.etag):
            return web.Response(status=304, headers=headers)
        body = self.body
        if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = self.gzipped
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = self.content_type
        return web.Response(body=body, headers=headers)


class Assets:
    """The page's files by name; ``index.html`` is served at ``/``."""

    PACKAGE: ClassVar[str] = "acytoo.web"

    def __init__(self, files: dict[str, Asset]) -> None:
        self.files = files

    @classmethod
    def load(cls) -> Assets:
        """Read every page file from the package data."""
        files: dict[str, Asset] = {}
        static = resources.files(cls.PACKAGE).joinpath("static")
        for entry in static.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in _TYPES:
                files[entry.name] = Asset.of(entry.read_bytes(), _TYPES[suffix])
        return cls(files)

    @property
    def total_bytes(self) -> int:
        """The uncompressed size of all the page's files."""
        return sum(len(asset.body) for asset in self.files.values())

    async def handle_index(self, request: web.Request) -> web.Response:
        """``GET /``: the page."""
        return self.files["index.html"].response(request)

    async def handle_static(self, request: web.Request) -> web.Response:
        """``GET /static/<name>``: one of the page's files (a fixed set: no paths)."""
        asset = self.files.get(request.match_info["name"])
        if asset is None or request.match_info["name"] == "index.html":
            raise web.HTTPNotFound()
        return asset.response(request)


def _matches(if_none_match: str, etag: str) -> bool:
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        if name.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip()
            try:
                return not params.strip().startswith("q=") or float(quality) > 0
            except ValueError:
                return True
    return False
