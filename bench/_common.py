"""Helpers the benchmark scripts share.

The machine description, a nearest-rank percentile, readings of
``/proc/<pid>/status``, a free port, an aiohttp site on 127.0.0.1, a real
``python -m acytoo.server`` process and Markdown table lines. The scripts run as ``python bench/<name>.py``, so
their directory is on ``sys.path`` and they import this as ``_common``.

aiohttp is imported only inside :func:`start_site`: bench/local.py measures
the offline path, which must not load it.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "cpu_model",
    "free_port",
    "machine_line",
    "percentile",
    "proc_status_kib",
    "start_server_process",
    "start_site",
    "table_head",
    "table_row",
]


def cpu_model(default: str) -> str:
    """The CPU's ``model name`` from /proc/cpuinfo, else ``default``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def machine_line(default_model: str, *versions: str) -> str:
    """``<cpu>, <n> cores; Python <v>, <versions...>, <system>``."""
    return (
        f"{cpu_model(default_model)}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, {', '.join([*versions, platform.system()])}"
    )


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank value at ``share`` (0..1) of the way through the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def proc_status_kib(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``...)."""
    path = f"/proc/{pid}/status"
    with open(path) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in {path}")


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago (for a child process to bind)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_site(app: web.Application, backlog: int = 128) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1, port chosen by the system: the runner and the port.

    The caller cleans the runner up. ``backlog`` 128 is aiohttp's default.
    """
    import asyncio

    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])


async def start_server_process(
    *options: str,
    prefix: Sequence[str] = (),
    python_options: Sequence[str] = (),
    log_level: str = "warning",
    wait: float = 60,
) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m acytoo.server`` on a free port with ``options``; its URL once it listens.

    ``prefix`` runs it under another program (valgrind), ``python_options``
    go to the interpreter (``-m cProfile ...``); ``wait`` bounds each line of
    its start-up output.
    """
    process = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        *python_options,
        "-m",
        "acytoo.server",
        "--port",
        "0",
        "--log-level",
        log_level,
        "--no-access-log",
        "--grace-period",
        "1",
        *options,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    for _ in range(100):
        line = await asyncio.wait_for(process.stderr.readline(), wait)
        match = re.search(rb"listening on (http://\S+)", line)
        if match:
            return process, match[1].decode()
        if not line:
            break
    raise SystemExit(f"the server did not start: {options}")


def table_head(*columns: str, numeric: bool = False) -> str:
    """A Markdown table's header and rule; ``numeric`` right-aligns all but the first column."""
    rule = "---:" if numeric else "---"
    return f"{table_row(*columns)}\n|---|{'|'.join([rule] * (len(columns) - 1))}|"


def table_row(*cells: object) -> str:
    """One Markdown table line."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"
