"""A second process for the concurrency tests: ``python _worker.py COMMAND DB ...``.

Each command opens the store, prints ``ready``, waits for a line on stdin (so several
workers start writing at the same moment), does its job and exits 0. DB ``env`` means
the store named by ``WORKER_DATABASE`` (a PostgreSQL URL's password stays off the
command line).
"""

from __future__ import annotations

import os
import sys
import time

import anyio

from storage import Cookie, Credential, CredentialStore


async def _go(store: CredentialStore) -> None:
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)


async def puts(db: str, count: str, tag: str) -> None:
    """``count`` puts of one credential, each naming this worker and its counter."""
    async with CredentialStore.open(db) as store:
        await _go(store)
        for i in range(int(count)):
            await store.put(Credential("race", "default", user_agent=f"{tag}-{i}"))


async def harvest_merges(db: str, count: str, tag: str) -> None:
    """``count`` cookie write-backs by harvest, as clients coalesce them: never refused
    for another client's write-back, only for a newer harvest."""
    async with CredentialStore.open(db) as store:
        await _go(store)
        current = await store.get("race", "default")
        assert current is not None
        for i in range(int(count)):
            cookie = Cookie(f"{tag}-{i}", str(i), "example.com")
            assert await store.merge_cookies(
                "race", "default", [cookie], harvested_at=current.harvested_at
            )


async def merges(db: str, count: str, tag: str) -> None:
    """``count`` cookie write-backs with compare-and-set, re-reading when refused."""
    async with CredentialStore.open(db) as store:
        await _go(store)
        refused = 0
        for i in range(int(count)):
            cookie = Cookie(f"{tag}-{i}", str(i), "example.com")
            while True:
                current = await store.get("race", "default")
                assert current is not None
                if await store.merge_cookies(
                    "race", "default", [cookie], generation=current.generation
                ):
                    break
                refused += 1
        print(f"refused {refused}", flush=True)


async def hammer(db: str) -> None:
    """Put forever, printing each counter once its put has committed."""
    async with CredentialStore.open(db) as store:
        await _go(store)
        i = 0
        while True:
            i += 1
            await store.put(
                Credential(
                    "crash",
                    "default",
                    user_agent="x" * 2000,  # a few pages per write, so kills land mid-write
                    cookies=tuple(Cookie(f"c{j}", f"{i}-{j}", "example.com") for j in range(20)),
                    tokens={"n": str(i)},
                )
            )
            print(i, flush=True)


async def lease_cycles(db: str, holder: str, cycles: str, log: str) -> None:
    """Take and give back the lease ``cycles`` times, logging each to ``log``."""
    async with CredentialStore.open(db) as store:
        await _go(store)
        done = 0
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            while done < int(cycles):
                lease = await store.acquire("race", "default", holder, ttl=60)
                if lease is None:
                    await anyio.sleep(0.001)
                    continue
                os.write(fd, f"take {holder}\n".encode())
                await anyio.sleep(0.002)  # hold it while the other tries
                os.write(fd, f"give {holder}\n".encode())
                assert await store.release(lease)
                done += 1
        finally:
            os.close(fd)


async def hold(db: str, holder: str, ttl: str, offset: str = "0") -> None:
    """Try to take the lease (with a clock ``offset`` seconds ahead); print the result."""
    async with CredentialStore.open(db, clock=lambda: time.time() + float(offset)) as store:
        lease = await store.acquire("race", "default", holder, ttl=float(ttl))
        print("held" if lease else "refused", flush=True)


COMMANDS = {
    "puts": puts,
    "merges": merges,
    "harvest-merges": harvest_merges,
    "hammer": hammer,
    "lease": lease_cycles,
    "hold": hold,
}

if __name__ == "__main__":
    args = sys.argv[2:]
    if args and args[0] == "env":
        args[0] = os.environ["WORKER_DATABASE"]
    anyio.run(COMMANDS[sys.argv[1]], *args)
