"""What every process the harvester starts shares: it dies with the harvester."""

from __future__ import annotations

import ctypes
import os
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it


def die_with_parent(parent: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """In the child before exec: get ``sig`` when the launching thread dies (even by
    SIGKILL, which runs no cleanup of ours)."""
    _libc.prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
