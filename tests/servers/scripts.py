"""Run a snippet as a real, separate Python script (not inside pytest's loop or warnings)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

__all__ = ["run_script"]


def run_script(
    tmp_path: Path, source: str, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` with ``-W error::ResourceWarning`` and return the finished process."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    return subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
