"""Where the daemon's lock lives, and whether a daemon holds it.

``harvest daemon`` holds an exclusive ``flock`` on a file next to the database while it
runs; the OS drops it when the process dies. Clients look at it to know whether a
refresh request in the store will be served.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["daemon_lock_path", "running_daemon"]


def daemon_lock_path(database: Path) -> Path:
    """The daemon's lock file for ``database``."""
    return database.with_name(database.name + ".daemon.lock")


def running_daemon(database: Path) -> int | None:
    """The pid of the daemon serving ``database``, or ``None`` if none runs (blocking I/O)."""
    try:
        fd = os.open(daemon_lock_path(database), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1  # held, by a pid not yet written
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
