"""Fixtures for harvester tests: the protected test site and a config using it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import BrowserConfig, Config, HarvesterConfig

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
