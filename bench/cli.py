"""Start-up time and time to first chunk of the ``acytoo`` command.

    python bench/cli.py [--runs 20]

Every figure is wall time of a fresh process, measured in this one run and
interleaved (one of each case per round) so machine noise hits all cases
alike:

- ``python -c pass``: the interpreter alone, the floor;
- ``acytoo --help`` and ``acytoo --version`` (target: --help under 150 ms);
- ``acytoo chat "..."`` with nothing configured (the offline assistant):
  time until the first byte reaches stdout, and until the process exits;
- ``acytoo chat --url ...`` against a local Acytoo-protocol server: the
  project's own ``acytoo serve`` (offline backend) when it starts, else a
  minimal aiohttp server; and against a minimal aiohttp server that answers
  at once, which isolates the client's own cost.

The CLI also records its own time to first chunk (from sending the request)
in the history database; the median of those is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from _common import free_port, percentile, start_site, table_head, table_row

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ACYTOO = str(Path(PYTHON).with_name("acytoo"))
QUESTION = "How do I use a SOCKS proxy?"
SERVER_START_TIMEOUT = 20.0


@dataclass
class Case:
    """One measured command."""

    name: str
    argv: list[str]
    first_byte: bool = False
    db: Path | None = None
    wall: list[float] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)


def run_once(case: Case, env: dict[str, str]) -> None:
    """Run ``case`` once, recording wall time (and time to the first stdout byte)."""
    if case.db is not None:
        env = {**env, "ACYTOO_DB": str(case.db)}
    started = time.perf_counter()
    process = subprocess.Popen(
        case.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    if case.first_byte:
        first = process.stdout.read(1)
        case.ttfb.append((time.perf_counter() - started) * 1000)
        if not first:
            raise RuntimeError(f"{case.name}: no output")
    _, err = process.communicate(timeout=60)
    case.wall.append((time.perf_counter() - started) * 1000)
    if process.returncode != 0:
        raise RuntimeError(f"{case.name} exited {process.returncode}: {err.decode()}")


class StubServer:
    """A minimal Acytoo-protocol server on a background thread: answers at once."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for word in ("Hello", " from", " the", " stub."):
            await response.write(word.encode())
        await response.write_eof()
        return response

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/completions", self._handle)
        self.runner, self.port = await start_site(app)

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def start_acytoo_serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str] | None:
    """``acytoo serve`` (offline backend) on a free port, or ``None`` if it does not come up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [ACYTOO, "serve", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait(10)
    return None


def recorded_first_chunk(db: Path) -> float | None:
    """Median first-chunk time the CLI itself recorded."""
    with sqlite3.connect(db) as connection:
        values = [row[0] for row in connection.execute("SELECT first_chunk_ms FROM exchanges")]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    if not os.path.exists(ACYTOO):
        found = shutil.which("acytoo")
        if found is None:
            sys.exit("the acytoo console script is not installed next to this Python")
        globals()["ACYTOO"] = found

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ACYTOO_", "OPENAI_", "XDG_")) and "proxy" not in k.lower()
        }
        env.update(
            HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data")
        )
        stub = StubServer()
        stub_url = stub.start()
        served = start_acytoo_serve(env)
        server_name = "acytoo serve (offline backend)" if served else "minimal aiohttp server"
        server_url = served[1] if served else stub_url
        cases = [
            Case("python -c pass", [PYTHON, "-c", "pass"]),
            Case("acytoo --version", [ACYTOO, "--version"]),
            Case("acytoo --help", [ACYTOO, "--help"]),
            Case(
                "chat, offline assistant (fallback)",
                [ACYTOO, "chat", QUESTION],
                first_byte=True,
                db=home / "offline.db",
            ),
            Case(
                f"chat --url, {server_name}",
                [ACYTOO, "chat", "--url", server_url, QUESTION],
                first_byte=True,
                db=home / "server.db",
            ),
            Case(
                "chat --url, stub answering at once",
                [ACYTOO, "chat", "--url", stub_url, QUESTION],
                first_byte=True,
                db=home / "stub.db",
            ),
        ]
        try:
            for case in cases:  # warm the page cache and the .pyc files
                run_once(case, env)
                case.wall.clear()
                case.ttfb.clear()
            for _ in range(runs):
                for case in cases:
                    run_once(case, env)
        finally:
            stub.stop()
            if served:
                served[0].terminate()
                served[0].wait(30)
        report(cases, runs, recorded_first_chunk)


def report(cases: list[Case], runs: int, recorded: Callable[[Path], float | None]) -> None:
    floor = statistics.median(cases[0].wall)
    print(f"acytoo CLI, {runs} runs per case, interleaved; Python {sys.version.split()[0]}")
    print()
    print(
        table_head("Case", "wall p50", "wall p90", "over `python -c pass`", "first byte p50 / p90")
    )
    for case in cases:
        wall = statistics.median(case.wall)
        ttfb = (
            f"{statistics.median(case.ttfb):.1f} / {percentile(case.ttfb, 0.9):.1f} ms"
            if case.ttfb
            else "-"
        )
        p90 = percentile(case.wall, 0.9)
        print(
            table_row(case.name, f"{wall:.1f} ms", f"{p90:.1f} ms", f"+{wall - floor:.1f} ms", ttfb)
        )
    print()
    for case in cases:
        if case.db is not None and case.db.exists():
            value = recorded(case.db)
            if value is not None:
                print(f"- {case.name}: first chunk recorded by the CLI (p50) {value:.2f} ms")
    help_case = next(case for case in cases if case.name == "acytoo --help")
    verdict = "meets" if statistics.median(help_case.wall) < 150 else "MISSES"
    print(f"- `acytoo --help` p50 {statistics.median(help_case.wall):.1f} ms: {verdict} < 150 ms")


if __name__ == "__main__":
    main()
