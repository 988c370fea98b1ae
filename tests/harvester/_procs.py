"""The Chromium processes of this machine, read from /proc (for tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from harvester._browser import PROFILE_PREFIX

__all__ = ["PROFILE_PREFIX", "chromium_processes", "rss_bytes"]


def chromium_processes(profile: Path | None = None) -> Iterator[int]:
    """Live PIDs whose command line names ``profile`` (any harvester profile if None)."""
    needle = f"--user-data-dir={profile}" if profile is not None else PROFILE_PREFIX
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
