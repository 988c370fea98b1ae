"""The seam tests' site: FreeNetfly's emulator answering in-process, through the
transport seam (no Chromium, TLS or proxy)."""

from __future__ import annotations

import pytest

from ..emulators.freenetfly import HOST, FreeNetflyEmulator
from ._asgi_transport import ASGITransport


@pytest.fixture
def emulator() -> FreeNetflyEmulator:
    site = FreeNetflyEmulator()
    site.state.chunk_delay = 0.0
    return site


@pytest.fixture
def transport(emulator: FreeNetflyEmulator) -> ASGITransport:
    return ASGITransport({HOST: emulator})
