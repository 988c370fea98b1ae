"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from harvester._browser import CHROMIUM_NAMES


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and curl_cffi's async session are built on asyncio.
    return "asyncio"


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test in which our own code blocks the event loop (anyio's tripwire)."""
    with blockbuster_ctx(["storage", "client", "harvester"]) as bb:
        yield bb


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable. Missing: a skip on a developer's machine, a failure in CI."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    message = "no Chromium on PATH; `make install` installs Debian's chromium package"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (under CI a missing browser is a failure, never a skip)")
    pytest.skip(message)
