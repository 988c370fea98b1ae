"""A client in a process of its own, for the crash test: ``python -m tests.client._burst
DB INTERVAL``. It chats with an in-process FreeNetfly emulator whose every answer rotates
a ``rot`` cookie, printing each value it was given, until it is killed."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from client import AsyncClient, ClientConfig, Config
from storage import CredentialStore

from ..emulators.freenetfly import HOST, FreeNetflyEmulator
from ._asgi_transport import ASGITransport
from .test_seam import PROMPT, session_of


async def burst(database: Path, interval: float) -> None:
    emulator = FreeNetflyEmulator()
    emulator.state.chunk_delay = 0.0
    emulator.state.rotate_cookie = True
    emulator.state.keep_requests = False
    transport = ASGITransport({HOST: emulator})
    config = Config(database=database, client=ClientConfig(write_back_interval=interval))
    async with CredentialStore.open(database) as store:
        await store.put(await session_of(transport))
        async with AsyncClient(config, store=store, transport=transport) as client:
            while True:
                async for _ in client.stream("freenetfly", PROMPT):
                    pass
                credential = await client.view.get("freenetfly", "default")
                assert credential is not None
                rot = next(c.value for c in credential.cookies if c.name == "rot")
                print(rot, flush=True)


if __name__ == "__main__":
    anyio.run(burst, Path(sys.argv[1]), float(sys.argv[2]))
