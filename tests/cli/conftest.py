"""Running the real ``acytoo`` command in an isolated home.

Every test gets its own HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and ACYTOO_DB
under ``tmp_path``, and an environment without ACYTOO_*, OPENAI_* or proxy
variables, so nothing reads or writes the real home or reaches the network.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACYTOO = [sys.executable, "-m", "acytoo"]
RUN_TIMEOUT = 60.0


@dataclass
class CLI:
    """The command line in an isolated environment."""

    env: dict[str, str]
    home: Path

    @property
    def db_path(self) -> Path:
        return Path(self.env["ACYTOO_DB"])

    @property
    def config_path(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "acytoo" / "config.toml"

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = RUN_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m acytoo *args``; stdin is ``input`` (a pipe) or /dev/null."""
        data = input.encode() if isinstance(input, str) else input
        process = subprocess.run(
            [*ACYTOO, *args],
            input=data,
            stdin=subprocess.DEVNULL if data is None else None,
            capture_output=True,
            env={**self.env, **(env or {})},
            timeout=timeout,
            check=False,
        )
        return subprocess.CompletedProcess(
            process.args,
            process.returncode,
            process.stdout.decode("utf-8"),
            process.stderr.decode("utf-8"),
        )

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` against the history database."""
        with sqlite3.connect(self.db_path) as db:
            return [tuple(row) for row in db.execute(query, params)]

    def db_bytes(self) -> bytes:
        """Everything stored on disk: the database file and its WAL."""
        data = b""
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self.db_path}{suffix}")
            if path.exists():
                data += path.read_bytes()
        return data


def isolated_env(root: Path) -> dict[str, str]:
    """The current environment minus acytoo/OpenAI/proxy settings, with a private home."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ACYTOO_", "OPENAI_", "XDG_"))
        and "proxy" not in key.lower()
        and key not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")
    }
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        ACYTOO_DB=str(root / "data" / "acytoo" / "logs.db"),
        PYTHONIOENCODING="utf-8",
    )
    (root / "home").mkdir(exist_ok=True)
    return env


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    """The ``acytoo`` command with a private home and history database."""
    return CLI(isolated_env(tmp_path), tmp_path / "home")


def single_line(text: str) -> str:
    """Assert ``text`` is exactly one line and return it."""
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    return lines[0]
