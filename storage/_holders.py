"""Who holds a lease, a claim or the daemon role: a name that says which process of
which machine, so a holder known dead (a process of this machine that is gone) frees
what it held at once instead of at its expiry."""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["holder_is_dead", "holder_name", "pid_alive"]


def holder_name() -> str:
    """A lease or claim holder's name for this process: host, pid and a random part
    (``holder_is_dead`` reads the first two)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` was a process of this machine that no longer runs.

    A holder on another machine, or of another form, is never known dead here: its
    lease or claim lapses at its expiry instead.
    """
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (any user's)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's; or no such pid at all, never "dead" by mistake
    return True
