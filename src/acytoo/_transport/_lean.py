"""A lean HTTP/1.1 client for direct connections: a keep-alive pool on asyncio protocols.

aiohttp's client builds a request object, a writer, a payload, a response
object with its stream reader, and a dozen awaits per request; for the
server's ``/v1`` relay that was the largest single share of the CPU a relayed
request cost (docs/benchmarks.md). Sending a JSON POST and streaming its
answer needs much less: one write of the request bytes, the status line and
headers, and the body bytes as they come (``Content-Length``, chunked or
until the close). This module does only that, for every direct ``http`` and
``https`` request of the transport; requests through a proxy, with a
caller's session or with credentials in the URL keep going through aiohttp
(``_stream._send`` decides).

Failures are raised as the exceptions aiohttp would raise (or acytoo's own,
which subclass them), so the transport's retry rules and error mapping
(``translate_error``) treat both clients the same way.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import time
import weakref
import zlib
from collections.abc import Mapping
from typing import cast

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .. import errors
from .._urls import redact_url
from ._pool import RequestTrace, close_at_shutdown, connection_limit

__all__ = ["LeanPool", "LeanResponse", "close_lean_pool", "lean_pool"]

# Response heads larger than this are refused (aiohttp's limit is 8 KiB per line).
_MAX_HEAD = 64 * 1024
# Stop reading from the socket while this much is buffered and unread.
_HIGH_WATER = 256 * 1024
# An idle keep-alive connection older than this is closed rather than reused,
# as aiohttp's connector does (servers drop idle connections after a while).
_KEEPALIVE_SECONDS = 15.0
# A chunk size line: hex digits, then maybe extensions (";name=value"), ignored.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")
_NO_BODY_STATUSES = frozenset({204, 304})

_BodyKind = int
_LENGTH, _CHUNKED, _UNTIL_CLOSE, _EMPTY = 0, 1, 2, 3


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes in a buffer, a waiter woken when more come."""

    __slots__ = (
        "buffer",
        "closed",
        "eof",
        "error",
        "idle_since",
        "key",
        "paused",
        "start",
        "transport",
        "waiter",
    )

    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        # The bytes received and not yet read are buffer[start:]. Bytes, not a
        # bytearray: a read that arrives when all was consumed becomes the
        # buffer as it is, without a copy, and a bytearray that empties and
        # fills again is reallocated each time (thousands of page faults on a
        # 20 MiB answer).
        self.buffer = b""
        self.start = 0
        self.eof = False
        self.closed = False
        self.error: BaseException | None = None
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.start >= len(self.buffer):
            self.buffer, self.start = data, 0
        else:
            self.buffer, self.start = self.buffer[self.start :] + data, 0
        if len(self.buffer) > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def unread(self) -> int:
        return len(self.buffer) - self.start

    def reusable(self, now: float) -> bool:
        """Whether an idle connection may carry another request: open, nothing
        unexpected received, idle for no longer than the keep-alive time."""
        if self.closed or self.eof or self.unread:
            return False
        return now - self.idle_since <= _KEEPALIVE_SECONDS

    def consumed(self) -> None:
        """The reader took bytes from the buffer: read from the socket again if paused."""
        unread = len(self.buffer) - self.start
        if not unread:
            self.buffer, self.start = b"", 0  # an idle connection keeps no old read
        if self.paused and unread <= _HIGH_WATER // 4 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    async def wait(self, timeout: float | None) -> None:
        """Until more bytes, the end, or ``timeout`` seconds of silence (``ServerTimeoutError``)."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        handle = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if handle is not None:
                handle.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))


class LeanPool:
    """Keep-alive connections of one event loop, at most ``connection_limit()`` open."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], collections.deque[_Connection]] = {}
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ssl: ssl.SSLContext | None = None
        self._sweep_timer: asyncio.TimerHandle | None = None
        self.closed = False

    async def request(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        trace: RequestTrace,
    ) -> LeanResponse:
        """Send one request and read the head of its answer (body left to read)."""
        key = (url.scheme, url.raw_host or "", url.port or 0)
        connection = self._take_idle(key)
        if connection is not None:
            trace.reused = True  # the usual case, without a task for the time limit
        else:
            try:
                connection = await asyncio.wait_for(self._acquire(key, trace), connect_timeout)
            except asyncio.TimeoutError:
                trace.pool_full = self._full()
                raise aiohttp.ConnectionTimeoutError(
                    f"Connection timeout to host {redact_url(url)}"
                ) from None
        try:
            assert connection.transport is not None
            connection.transport.write(_request_bytes(method, url, headers, body))
            return await _read_head(connection, self, method, url, read_timeout, trace.reused)
        except BaseException:
            self.discard(connection)
            raise

    async def _acquire(self, key: tuple[str, str, int], trace: RequestTrace) -> _Connection:
        while True:
            connection = self._take_idle(key)
            if connection is not None:
                trace.reused = True
                return connection
            if self._full() and not self._close_other_idle():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self._wake_one()  # woken, then cancelled: the free slot goes on
                    raise
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                continue
            return await self._connect(key)

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recent: least likely to have been dropped
            if connection.reusable(now):
                return connection
            self.discard(connection)
        return None

    def _close_other_idle(self) -> bool:
        """Make room at the limit by closing an idle connection to another host."""
        for idle in self._idle.values():
            if idle:
                self.discard(idle.popleft())
                return True
        return False

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if scheme == "https" else None
        address = host.strip("[]")  # an IPv6 literal without its brackets
        connection = _Connection(key)
        self._open += 1
        try:
            await loop.create_connection(
                lambda: connection,
                address,
                port,
                ssl=context,
                server_hostname=address if context is not None else None,
            )
        except BaseException as exc:
            self._open -= 1
            self._wake_one()
            if isinstance(exc, OSError):
                url = redact_url(f"{scheme}://{host}:{port}")
                raise errors.ConnectError(f"cannot connect to {url}: {exc}", url=url) from exc
            raise
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _full(self) -> bool:
        limit = connection_limit()
        return bool(limit) and self._open >= limit

    def release(self, connection: _Connection) -> None:
        """A connection whose answer was read whole, ready for the next request."""
        now = connection.idle_since = time.monotonic()
        if self.closed or not connection.reusable(now):
            self.discard(connection)
            return
        self._idle.setdefault(connection.key, collections.deque()).append(connection)
        if self._sweep_timer is None:
            self._sweep_timer = asyncio.get_running_loop().call_later(
                _KEEPALIVE_SECONDS, self._sweep
            )
        self._wake_one()

    def _sweep(self) -> None:
        """Close the idle connections past their keep-alive time, or closed by the server.

        Runs every ``_KEEPALIVE_SECONDS`` while some are idle, so an idle pool
        holds no socket for long and dead connections hold no place in the limit.
        """
        self._sweep_timer = None
        now = time.monotonic()
        for key, idle in list(self._idle.items()):
            alive: collections.deque[_Connection] = collections.deque()
            for connection in idle:
                if connection.reusable(now):
                    alive.append(connection)
                else:
                    self.discard(connection)
            if alive:
                self._idle[key] = alive
            else:
                del self._idle[key]
        if self._idle and not self.closed:
            self._sweep_timer = asyncio.get_running_loop().call_later(
                _KEEPALIVE_SECONDS, self._sweep
            )

    def discard(self, connection: _Connection) -> None:
        if connection.transport is None:
            return  # never connected, or discarded already
        connection.close()
        connection.transport = None
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close every idle connection; those in use close when their answers end."""
        self.closed = True
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        for idle in self._idle.values():
            while idle:
                self.discard(idle.pop())
        self._idle.clear()


def _request_bytes(method: str, url: URL, headers: Mapping[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1", f"Host: {url.raw_authority}"]
    names = set()
    for name, value in headers.items():
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if "accept-encoding" not in names:
        # Uncompressed: the server's relay hands the bytes on as they are, and
        # event streams are rarely compressed anyway.
        lines.append("Accept-Encoding: identity")
    if "user-agent" not in names:
        lines.append("User-Agent: acytoo")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


async def _read_head(
    connection: _Connection,
    pool: LeanPool,
    method: str,
    url: URL,
    read_timeout: float | None,
    reused: bool,
) -> LeanResponse:
    while True:
        buffer, start = connection.buffer, connection.start
        end = buffer.find(b"\r\n\r\n", start)
        if end >= 0:
            head = buffer[start:end]
            connection.start = end + 4
            response = _parse_head(head, connection, pool, method, url, read_timeout)
            if 100 <= response.status < 200:
                continue  # "100 Continue" and other interim answers: the real one follows
            return response
        if len(buffer) - start > _MAX_HEAD:
            raise errors.IncompleteResponseError(
                f"the response from {redact_url(url)} was malformed: its head is larger "
                f"than {_MAX_HEAD} bytes",
                url=redact_url(url),
            )
        if connection.eof:
            if connection.error is not None and not connection.unread and not reused:
                raise aiohttp.ClientOSError(str(connection.error)) from connection.error
            # On a reused connection with nothing received, the server closed it
            # while it sat idle: the transport sends the request again.
            raise aiohttp.ServerDisconnectedError()
        await connection.wait(read_timeout)


def _parse_head(
    head: bytes,
    connection: _Connection,
    pool: LeanPool,
    method: str,
    url: URL,
    read_timeout: float | None,
) -> LeanResponse:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise errors.IncompleteResponseError(
            f"the response from {redact_url(url)} was malformed: bad status line",
            url=redact_url(url),
        )
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise errors.IncompleteResponseError(
                f"the response from {redact_url(url)} was malformed: bad header line",
                url=redact_url(url),
            )
        headers.add(name, value.strip())
    return LeanResponse(
        int(code),
        reason,
        CIMultiDictProxy(headers),
        version,
        connection,
        pool,
        method,
        url,
        read_timeout,
    )


class LeanResponse:
    """The parts of ``aiohttp.ClientResponse`` the transport uses, for one lean answer."""

    __slots__ = (
        "_chunk_left",
        "_connection",
        "_decompress",
        "_done",
        "_keep_alive",
        "_kind",
        "_left",
        "_need_crlf",
        "_pool",
        "_read_timeout",
        "headers",
        "method",
        "reason",
        "status",
        "url",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        headers: CIMultiDictProxy[str],
        version: str,
        connection: _Connection,
        pool: LeanPool,
        method: str,
        url: URL,
        read_timeout: float | None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.method = method
        self.url = url
        self._connection: _Connection | None = connection
        self._pool = pool
        self._read_timeout = read_timeout
        self._chunk_left = 0
        self._need_crlf = False
        self._left = 0
        connection_header = headers.get("Connection", "").lower()
        self._keep_alive = (
            "close" not in connection_header
            if version == "HTTP/1.1"
            else "keep-alive" in connection_header
        )
        length = headers.get("Content-Length")
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            self._kind: _BodyKind = _EMPTY
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._kind = _CHUNKED
        elif length is not None:
            if not length.isdigit():
                raise errors.IncompleteResponseError(
                    f"the response from {redact_url(url)} was malformed: bad Content-Length",
                    url=redact_url(url),
                )
            self._kind, self._left = _LENGTH, int(length)
        else:
            self._kind = _UNTIL_CLOSE
            self._keep_alive = False
        self._done = self._kind == _EMPTY or (self._kind == _LENGTH and self._left == 0)
        self._decompress = _decompressor(headers.get("Content-Encoding"), url)
        if self._done:
            self._finish()

    @property
    def content(self) -> LeanResponse:
        """The body reader (the response itself), as aiohttp's ``response.content``."""
        return self

    @property
    def content_type(self) -> str:
        value = self.headers.get("Content-Type")
        if not value:
            return "application/octet-stream"
        return value.partition(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        value = self.headers.get("Content-Type", "")
        for parameter in value.split(";")[1:]:
            name, _, setting = parameter.partition("=")
            if name.strip().lower() == "charset":
                return setting.strip().strip('"') or None
        return None

    def at_eof(self) -> bool:
        return self._done

    async def read(self, limit: int = -1) -> bytes:
        """Up to ``limit`` body bytes (all that is buffered if -1); ``b""`` at the end."""
        if limit < 0:
            limit = 1 << 62
        while True:
            if self._done:
                return b""
            connection = self._connection
            if connection is None:
                raise aiohttp.ClientConnectionError("Connection closed")
            data = self._take(connection, limit)
            connection.consumed()
            if self._decompress is not None and data:
                data = self._decompress.decompress(data)
                if self._done:
                    data += self._decompress.flush()
            if data or self._done:
                if self._done:
                    self._finish()
                return data
            if connection.eof:
                if self._kind == _UNTIL_CLOSE:
                    self._done = True
                    self._finish()
                    return self._decompress.flush() if self._decompress is not None else b""
                raise aiohttp.ClientPayloadError("Response payload is not completed")
            await connection.wait(self._read_timeout)

    def _take(self, connection: _Connection, limit: int) -> bytes:
        if self._kind == _CHUNKED:
            return self._take_chunks(connection, limit)
        buffer, start = connection.buffer, connection.start
        size = min(len(buffer) - start, limit)
        if self._kind == _LENGTH:
            size = min(size, self._left)
            self._left -= size
            self._done = self._left == 0
        connection.start = start + size
        if start == 0 and size == len(buffer):
            return buffer  # the whole read, as it came: no copy
        return buffer[start : start + size]

    def _take_chunks(self, connection: _Connection, limit: int) -> bytes:
        """The payload of the complete chunks buffered (up to ``limit`` bytes).

        This runs once per read, not per chunk: offsets into the buffer and one
        copy of the payload at the end. A stream of
        small chunks (1 KiB SSE events) costs little more than a plain body.
        """
        buffer, position = connection.buffer, connection.start
        available, size = len(buffer), 0
        spans: list[tuple[int, int]] = []
        append, find = spans.append, buffer.find
        left = self._chunk_left
        while size < limit:
            if left == 0:
                if self._need_crlf:
                    if available - position < 2:
                        break
                    if buffer[position] != 13 or buffer[position + 1] != 10:
                        raise aiohttp.ClientPayloadError("chunk not followed by CRLF")
                    position += 2
                    self._need_crlf = False
                end = find(b"\r\n", position)
                if end < 0:
                    if available - position > 4096:
                        raise aiohttp.ClientPayloadError("chunk size line too long")
                    break
                match = _CHUNK_SIZE.fullmatch(buffer, position, end)
                if match is None:
                    raise aiohttp.ClientPayloadError("bad chunk size")
                left = int(match[1], 16)
                if left == 0:
                    # The last chunk: the trailers end at an empty line.
                    trailers_end = find(b"\r\n\r\n", end)
                    if trailers_end < 0:
                        break
                    position = trailers_end + 4
                    self._done = True
                    break
                position = end + 2
                stop = position + left
                if stop + 2 <= available and size + left <= limit:
                    # The usual case: the whole chunk and its CRLF are here.
                    if buffer[stop] != 13 or buffer[stop + 1] != 10:
                        raise aiohttp.ClientPayloadError("chunk not followed by CRLF")
                    append((position, stop))
                    size += left
                    position = stop + 2
                    left = 0
                    continue
            take = min(left, available - position, limit - size)
            if take == 0:
                break
            append((position, position + take))
            position += take
            left -= take
            size += take
            if left == 0:
                self._need_crlf = True
        self._chunk_left = left
        if len(spans) == 1:
            data = buffer[spans[0][0] : spans[0][1]]
        else:
            with memoryview(buffer) as view:
                data = b"".join([view[start:stop] for start, stop in spans])
        connection.start = position
        return data

    def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._keep_alive:
            self._pool.release(connection)
        else:
            self._pool.discard(connection)

    def release(self) -> None:
        """Done with the answer: a fully read one gives its connection back."""
        if not self._done:
            self.close()

    def close(self) -> None:
        """Drop the connection (the answer was not read to its end)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.discard(connection)


def _decompressor(encoding: str | None, url: URL) -> zlib._Decompress | None:
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        return None
    name = encoding.strip().lower()
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise errors.IncompleteResponseError(
        f"the response from {redact_url(url)} is encoded as {name!r}, which acytoo cannot decode",
        url=redact_url(url),
    )


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LeanPool] = weakref.WeakKeyDictionary()


async def lean_pool() -> LeanPool:
    """The running loop's lean pool, made on first use and closed when the loop shuts down."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None or pool.closed:
        pool = _pools[loop] = LeanPool()
        await close_at_shutdown(loop, pool.close)
    return pool


def close_lean_pool() -> None:
    """Close the running loop's lean pool now (a new one opens on next use)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        pool.close()
