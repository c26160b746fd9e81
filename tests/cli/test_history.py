"""Several ``acytoo`` processes recording conversations into one history at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import CLI

PROCESSES = 4
EXCHANGES = 25

# Each process runs the real command-line entry 25 times (one-shot chats with
# the offline assistant, one conversation each).
_DRIVER = """
import contextlib, io, sys
from acytoo.cli import run

writer = sys.argv[1]
for number in range(int(sys.argv[2])):
    args = ["chat", "--provider", "local", f"what is acytoo? ({writer}-{number})"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = run(args)
    if code != 0:
        sys.exit(f"exchange {writer}-{number} exited {code}")
print("done")
"""


def test_concurrent_cli_processes_lose_no_rows(cli: CLI, tmp_path: Path) -> None:
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(_DRIVER))
    processes = [
        subprocess.Popen(
            [sys.executable, str(driver), str(writer), str(EXCHANGES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli.env,
        )
        for writer in range(PROCESSES)
    ]
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert out == "done\n"
        assert "locked" not in err
    total = PROCESSES * EXCHANGES
    assert cli.rows("SELECT count(*), sum(incomplete) FROM exchanges") == [(total, 0)]
    assert cli.rows("SELECT count(*) FROM conversations") == [(total,)]
    questions = {row[0] for row in cli.rows("SELECT content FROM messages WHERE role = 'user'")}
    assert questions == {
        f"what is acytoo? ({writer}-{number})"
        for writer in range(PROCESSES)
        for number in range(EXCHANGES)
    }
    assert cli.rows("SELECT count(*) FROM messages WHERE role = 'assistant' AND content != ''") == [
        (total,)
    ]
