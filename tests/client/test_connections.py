"""Concurrent calls on a new client share one connection, as Chromium's do: the
CONNECT proxy counts the tunnels (one per TCP + TLS handshake)."""

from __future__ import annotations

import anyio
import pytest

from client import AsyncClient, Config
from storage import Credential

from ..emulators.cloudflare import CloudflareEmulator
from ..emulators.rig import Rig
from .test_stream import stored, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

HOST = "playground.ai.cloudflare.com:443"


async def test_concurrent_calls_on_a_new_client_share_one_connection(
    rig: Rig,
    rig_config: Config,
    cloudflare_credential: Credential,
    cloudflare: CloudflareEmulator,
) -> None:
    await stored(rig_config, cloudflare_credential)
    before = rig.proxy.connects.count(HOST)
    texts: dict[int, str] = {}
    async with AsyncClient(rig_config) as client:

        async def one(n: int) -> None:
            events = [e async for e in client.stream("cloudflare", f"count to {n}")]
            texts[n] = text_of(events)

        async with anyio.create_task_group() as group:
            for n in range(1, 51):
                group.start_soon(one, n)
    assert texts == {n: "".join(f" {k}" for k in range(1, n + 1)) for n in range(1, 51)}
    assert rig.proxy.connects.count(HOST) - before == 1
