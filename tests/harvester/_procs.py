"""The Chromium processes of this machine, read from /proc (for tests and benchmarks).

The suite marks itself: ``tests/conftest.py`` puts ``RUN_MARKER`` (a value of its own)
in the environment, which every harvester it starts, in-process or as a subprocess,
passes on to its Chromium. Under a marked run only that run's browsers are counted, so
two suites (or a suite and a daemon) can run side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from harvester._browser import PROFILE_PREFIX

__all__ = ["PROFILE_PREFIX", "RUN_MARKER", "chromium_processes", "rss_bytes"]

RUN_MARKER = "SESSION_HARVEST_TEST_RUN"


def chromium_processes(profile: Path | None = None) -> Iterator[int]:
    """Live PIDs whose command line names ``profile`` (any harvester profile if None),
    of this test run only when the run is marked."""
    needle = f"--user-data-dir={profile}" if profile is not None else PROFILE_PREFIX
    run = os.environ.get(RUN_MARKER)
    mark = f"{RUN_MARKER}={run}".encode() if run else None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if needle not in cmdline or state == "Z":
                continue
            if mark is not None and mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        yield int(entry.name)


def rss_bytes(pids: Iterable[int]) -> int:
    """Summed resident memory of ``pids`` (those still alive)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
