"""The Chromium processes of this machine, read from /proc (for tests and benchmarks).

The suite gives itself a temporary directory of its own (``tests/conftest.py`` sets
``TMPDIR`` and ``RUN_MARKER`` to it), which every harvester it starts, in-process or as
a subprocess, makes its Chromium profiles in. Every Chromium process, helpers included,
names its profile on its command line, so under a marked run only that run's browsers
are counted, and two suites (or a suite and a daemon) can run side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from harvester._browser import PROFILE_PREFIX
from harvester._display import OWNER_VARIABLE

__all__ = ["PROFILE_PREFIX", "RUN_MARKER", "chromium_processes", "rss_bytes", "xvfb_processes"]

RUN_MARKER = "SESSION_HARVEST_TEST_RUN"


def chromium_processes(profile: Path | None = None) -> Iterator[int]:
    """Live PIDs whose command line names ``profile`` (else any harvester profile: of
    this test run only, when the run is marked)."""
    if profile is not None:
        needle = f"--user-data-dir={profile}"
    elif run := os.environ.get(RUN_MARKER):
        needle = f"--user-data-dir={Path(run) / PROFILE_PREFIX}"
    else:
        needle = PROFILE_PREFIX
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            yield int(entry.name)


def xvfb_processes(profile_prefix: str | None = None) -> Iterator[int]:
    """Live Xvfb PIDs a harvester started for a browser whose profile starts with
    ``profile_prefix`` (else any harvester profile: of this test run only, when marked);
    each names its browser's profile in its environment."""
    if profile_prefix is None:
        run = os.environ.get(RUN_MARKER)
        profile_prefix = str(Path(run) / PROFILE_PREFIX) if run else ""
    needle = f"{OWNER_VARIABLE}={profile_prefix}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "Xvfb":
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(v.startswith(needle) for v in environ):
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
