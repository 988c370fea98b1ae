"""Fixtures for harvester tests: the protected test site and a config using it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client import BrowserConfig, Config, HarvesterConfig

from ._procs import chromium_processes
from ._site import Site


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    server = Site().start()
    yield server
    server.stop()


@pytest.fixture
def config(tmp_path: Path, chromium: str) -> Config:
    return Config(
        database=tmp_path / "credentials.db",
        browser=BrowserConfig(executable=Path(chromium)),
        harvester=HarvesterConfig(concurrency=4),
    )


@pytest.fixture(autouse=True)
def no_chromium_left_behind() -> Iterator[None]:
    """Every harvester test must end with no Chromium of ours running."""
    before = set(chromium_processes())
    yield
    # Killed processes take the kernel a moment to tear down: allow a grace period.
    deadline = time.monotonic() + 10
    while (left := set(chromium_processes()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"Chromium processes left behind: {sorted(left)}"
