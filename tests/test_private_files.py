"""The history database is its owner's alone: 0600 files in a 0700 folder, whatever the umask."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from acytoo._private_files import prepare_private_file
from servers.scripts import run_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002])
def test_store_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    # A separate process: the umask is process-wide.
    db = tmp_path / "new" / "acytoo" / "logs.db"
    result = run_script(
        tmp_path,
        """
        import os, sys
        os.umask(int(sys.argv[2], 8))
        from acytoo.store import Store
        store = Store(sys.argv[1])
        conversation = store.new_conversation()
        store.set_system(conversation, "written, so the WAL exists")
        for suffix in ("", "-wal", "-shm"):
            print(suffix or "db", oct(os.stat(sys.argv[1] + suffix).st_mode & 0o777))
        store.close()
        """,
        str(db),
        oct(umask),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db", "0o600", "-wal", "0o600", "-shm", "0o600"]
    assert mode(db.parent) == 0o700
    assert mode(db.parent.parent) == 0o700  # every folder it created


def test_an_existing_history_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "logs.db"
    for path in (db, tmp_path / "logs.db-wal"):
        path.write_bytes(b"")
        os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    prepare_private_file(db)
    assert mode(db) == 0o600
    assert mode(tmp_path / "logs.db-wal") == 0o600
    assert mode(tmp_path) == 0o755  # not a folder it created: not its to change
