"""Files only their owner may read: the history database and its folder.

The history holds every question and answer, so it is created for its owner
alone whatever the umask: missing folders 0700, the file 0600. SQLite gives
the ``-wal`` and ``-shm`` files it creates next to a database the
database's own permissions, so making the main file 0600 before SQLite opens
it covers them too; ones left by an older version are tightened here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["prepare_private_file"]

_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def prepare_private_file(path: Path) -> None:
    """Create ``path``'s missing folders 0700 and the file 0600 (an existing one is tightened).

    Folders that already exist are left alone: they may be shared ones such
    as ``/tmp`` or the user's ``~/.local/share``.
    """
    missing: list[Path] = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=_FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it first; its mode is its business
        os.chmod(folder, _FOLDER_MODE)  # mkdir's mode is masked by the umask
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    os.close(descriptor)
    for name in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
        # Not ours to change (another user's file we may write): leave it.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if name.stat().st_mode & 0o777 != _FILE_MODE:
                os.chmod(name, _FILE_MODE)
