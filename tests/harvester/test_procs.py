"""The leftover-browser check counts only this run's processes: another suite's (or a
daemon's) harvester Chromium on the same machine is not this run's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._procs import PROFILE_PREFIX, RUN_MARKER, chromium_processes


@contextmanager
def lookalike(temp: Path) -> Iterator[int]:
    """A process whose command line names a harvester profile in directory ``temp``."""
    profile = f"--user-data-dir={temp / PROFILE_PREFIX}1-lookalike"
    code = "import sys; sys.stdin.read()"
    with subprocess.Popen([sys.executable, "-c", code, profile], stdin=subprocess.PIPE) as process:
        try:
            yield process.pid
        finally:
            process.kill()


def test_only_this_runs_browsers_are_counted(tmp_path: Path) -> None:
    run = Path(os.environ[RUN_MARKER])
    assert Path(tempfile.gettempdir()) == run  # where every harvester of the run puts profiles
    with (
        lookalike(run) as ours,
        lookalike(tmp_path / "another-run") as theirs,
        lookalike(Path("/tmp")) as outside,
    ):
        found = set(chromium_processes())
    assert ours in found
    assert theirs not in found
    assert outside not in found
