"""Whether a daemon serves a store, and claiming that role: read and written here only.

For SQLite it is an exclusive ``flock`` on a file beside the database, held while the
daemon runs; the OS drops it when the process dies, however it dies, so a killed daemon
never blocks the next one. Clients read it to know whether a refresh request they put
in the store will be served. (A store shared by several machines needs another kind:
a heartbeat in the database itself.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["DaemonPresence"]


class DaemonPresence:
    """The daemon's lock file for one SQLite database (every method does blocking I/O)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".daemon.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the role through this object."""
        return self._fd is not None

    def holder(self) -> int | None:
        """The pid of the daemon serving the database (-1: one whose pid is not written
        yet), or ``None`` if none runs."""
        if self.held:
            return os.getpid()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _pid(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def claim(self) -> int | None:
        """Become the database's daemon: ``None`` on success, else the holder's pid."""
        if self.held:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid(fd)
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return None

    def release(self) -> None:
        """Stop being the daemon (closing the file drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _pid(fd: int) -> int:
    text = os.read(fd, 32).decode(errors="replace").strip()
    return int(text) if text.isdigit() else -1
