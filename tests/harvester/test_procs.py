"""The leftover-browser check counts only this run's processes: another suite's (or a
daemon's) harvester Chromium on the same machine is not this test's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ._procs import PROFILE_PREFIX, RUN_MARKER, chromium_processes


@contextmanager
def lookalike(run: str | None) -> Iterator[int]:
    """A process whose command line names a harvester profile, of run ``run``."""
    env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}
    if run is not None:
        env[RUN_MARKER] = run
    profile = f"--user-data-dir=/tmp/{PROFILE_PREFIX}1-lookalike"
    code = "import sys, time; sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code, profile], stdin=subprocess.PIPE, env=env
    ) as process:
        try:
            yield process.pid
        finally:
            process.kill()


def test_only_this_runs_browsers_are_counted() -> None:
    with (
        lookalike(os.environ[RUN_MARKER]) as ours,
        lookalike("another-run") as theirs,
        lookalike(None) as unmarked,
    ):
        found = set(chromium_processes())
    assert ours in found
    assert theirs not in found
    assert unmarked not in found
