"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and curl_cffi's async session are built on asyncio.
    return "asyncio"


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test in which our own code blocks the event loop (anyio's tripwire)."""
    with blockbuster_ctx(["storage", "client", "harvester"]) as bb:
        yield bb
