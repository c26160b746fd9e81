"""The browser and slow-client options of ``acytoo serve``, on a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import aiohttp
import pytest

USER = [{"role": "user", "content": "Hello"}]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("OPENAI_API_KEY", None)
    return env


async def test_the_options_reach_the_running_server() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "acytoo.server",
        "--port",
        "0",
        "--allow-origin",
        "https://app.example",
        "--allowed-host",
        "chat.example",
        "--header-timeout",
        "2",
        "--body-timeout",
        "5",
        "--max-connections",
        "50",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(),
    )
    assert process.stderr is not None
    try:
        url = None
        for _ in range(200):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            match = re.search(rb"listening on (http://\S+)", line)
            if match or not line:
                url = match[1].decode() if match else None
                break
        assert url is not None, "the server did not start"
        # A new connection per request: the 2 s header deadline closes idle ones.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Origin": "https://app.example", "Host": "chat.example"}
            async with session.post(
                f"{url}/api/completions", json={"messages": USER}, headers=headers
            ) as response:
                assert response.status == 200
                assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
                assert await response.text()
            headers = {"Origin": "https://evil.example"}
            async with session.post(
                f"{url}/api/completions", json={"messages": USER}, headers=headers
            ) as response:
                assert response.status == 403
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            # Closed by the 2 s header deadline, well within this bound.
            assert await asyncio.wait_for(reader.read(-1), 30) == b""
        finally:
            writer.close()
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--allow-origin", "chat.example.com", "is not an origin"),
        ("--allowed-host", "http://chat.example/", "host names"),
        ("--header-timeout", "0", "--header-timeout"),
        ("--body-timeout", "-1", "--body-timeout"),
        ("--max-connections", "0", "--max-connections"),
    ],
)
def test_bad_values_are_one_clear_line(option: str, value: str, words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "acytoo.server", option, value],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(),
    )
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr
