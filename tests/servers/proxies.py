"""Real proxy processes (pproxy) on free 127.0.0.1 ports, for the proxy tests.

Each proxy runs in its own subprocess with verbose logging to a file, so a
test can prove that its request really went through the proxy: pproxy
writes ``<protocol> <client> -> <target>`` for every relayed connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "ProxyProcess",
    "free_port",
    "http_auth_proxy",
    "http_proxy",
    "socks5_auth_proxy",
    "socks5_proxy",
    "start_proxy",
]

PROXY_USER = "tester"
PROXY_PASSWORD = "s3cret"
_READY_DEADLINE = 30.0
_POLL_INTERVAL = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ProxyProcess:
    """A running pproxy and where its log goes."""

    scheme: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    credentials: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        """The proxy URL a client passes (credentials included when required)."""
        userinfo = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"{self.scheme}://{userinfo}127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 10.0) -> str:
        """The log once it contains ``needle`` (bounded wait; the log is written asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if needle in text or time.monotonic() > deadline:
                return text
            time.sleep(_POLL_INTERVAL)

    def relayed_to(self, port: int) -> str:
        """The pproxy log line of a connection relayed to 127.0.0.1:``port``, or ''."""
        needle = f"-> 127.0.0.1:{port}"
        for line in self.wait_for_log(needle).splitlines():
            if needle in line:
                return line
        return ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_proxy(
    scheme: str, log_dir: Path, credentials: tuple[str, str] | None = None
) -> ProxyProcess:
    """Start pproxy listening for ``scheme`` and wait until it accepts connections."""
    port = free_port()
    listen = f"{scheme}://127.0.0.1:{port}"
    if credentials is not None:
        listen += f"#{credentials[0]}:{credentials[1]}"
    log_path = log_dir / f"pproxy-{scheme}-{port}.log"
    log = log_path.open("wb")
    # -u: unbuffered, so the log shows each relayed connection right away.
    # --auth 0: ask for credentials on every connection, not once per client IP.
    command = [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v", "--auth", "0"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()
    proxy = ProxyProcess(scheme, port, process, log_path, credentials)
    deadline = time.monotonic() + _READY_DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pproxy exited early: {proxy.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return proxy
        except OSError:
            if time.monotonic() > deadline:
                proxy.stop()
                raise RuntimeError(f"pproxy did not start listening: {proxy.log()}") from None
            time.sleep(_POLL_INTERVAL)


def _serve(
    scheme: str, log_dir: Path, credentials: tuple[str, str] | None = None
) -> Iterator[ProxyProcess]:
    # The body of each proxy fixture: one proxy for the session, stopped at its end.
    proxy = start_proxy(scheme, log_dir, credentials)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def _proxy_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxies")


@pytest.fixture(scope="session")
def http_proxy(_proxy_logs: Path) -> Iterator[ProxyProcess]:
    """An HTTP proxy without authentication."""
    yield from _serve("http", _proxy_logs)


@pytest.fixture(scope="session")
def http_auth_proxy(_proxy_logs: Path) -> Iterator[ProxyProcess]:
    """An HTTP proxy that requires ``PROXY_USER:PROXY_PASSWORD``."""
    yield from _serve("http", _proxy_logs, (PROXY_USER, PROXY_PASSWORD))


@pytest.fixture(scope="session")
def socks5_proxy(_proxy_logs: Path) -> Iterator[ProxyProcess]:
    """A SOCKS5 proxy without authentication."""
    yield from _serve("socks5", _proxy_logs)


@pytest.fixture(scope="session")
def socks5_auth_proxy(_proxy_logs: Path) -> Iterator[ProxyProcess]:
    """A SOCKS5 proxy that requires ``PROXY_USER:PROXY_PASSWORD``."""
    yield from _serve("socks5", _proxy_logs, (PROXY_USER, PROXY_PASSWORD))
