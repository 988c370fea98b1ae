"""Profile pools and the in-memory credential view, through the transport seam: the
FreeNetfly emulator answers in-process, one session (an account) per profile, each
rate-limited or ended on its own."""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest
from anyio.streams.text import TextReceiveStream

from client import AsyncClient, Config, ProviderConfig, RateLimited, TextDelta
from client._view import FRESH_FOR
from storage import Cookie, Credential, CredentialStatus, CredentialStore

from ..emulators.freenetfly import FreeNetflyEmulator
from ._asgi_transport import ASGITransport
from .test_seam import EXPECTED, PROMPT, session_of

pytestmark = pytest.mark.anyio

PROFILES = ("a", "b", "c")
ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """The clock the client and the store share (a cool-down is minutes of waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def pooled(tmp_path: Path, **table: object) -> Config:
    quick = ProviderConfig(profiles=PROFILES, retry_backoff=0.001, retry_backoff_max=0.002, **table)  # type: ignore[arg-type]
    return Config(database=tmp_path / "credentials.db", providers={"freenetfly": quick})


async def account(transport: ASGITransport, profile: str, clock: Clock) -> Credential:
    """A harvest of one profile: its own session on the site."""
    credential = await session_of(transport)
    return dataclasses.replace(
        credential, profile=profile, harvested_at=clock(), expires_at=clock() + 3600
    )


def session(credential: Credential) -> str:
    return next(c.value for c in credential.cookies if c.name == "nf_sid")


async def chat(client: AsyncClient, **kw: object) -> str:
    text = ""
    async for event in client.stream("freenetfly", PROMPT, **kw):  # type: ignore[arg-type]
        if isinstance(event, TextDelta):
            text += event
    return text


def served_by(emulator: FreeNetflyEmulator, accounts: dict[str, Credential]) -> list[str]:
    """Which profile each chat request came from, in order."""
    by_session = {session(c): p for p, c in accounts.items()}
    return [by_session[r.cookies["nf_sid"]] for r in emulator.chat_requests()]


async def setup(
    tmp_path: Path, transport: ASGITransport, clock: Clock, **table: object
) -> tuple[Config, CredentialStore, dict[str, Credential]]:
    config = pooled(tmp_path, **table)
    store = await CredentialStore.open(config.database, clock=clock)
    accounts = {p: await store.put(await account(transport, p, clock)) for p in PROFILES}
    return config, store, accounts


async def test_a_429_moves_the_call_on_and_the_profile_rests_until_its_time(
    tmp_path: Path, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock)
    emulator.limit(session(accounts["a"]), retry_after=30)
    async with store, AsyncClient(config, store=store, transport=transport, clock=clock) as client:
        assert await chat(client) == EXPECTED  # a said 429, b answered
        assert [c.profile for c in await store.cooldowns("freenetfly")] == ["a"]
        for _ in range(4):
            assert await chat(client) == EXPECTED
        assert served_by(emulator, accounts) == ["a", "b", "b", "b", "b", "b"]
        # Another client (another process) respects the cool-down: it is in the store.
        async with AsyncClient(config, store=store, transport=transport, clock=clock) as other:
            assert await chat(other) == EXPECTED
        assert served_by(emulator, accounts)[-1] == "b"
        # Its time over (and the site's limit lifted), a is used again.
        emulator.limit(session(accounts["a"]), None)
        clock.now += 31
        await anyio.sleep(2 * FRESH_FOR)  # past the view's documented delay
        assert await chat(client) == EXPECTED
        assert served_by(emulator, accounts)[-1] == "a"


async def test_every_profile_cooling_fails_with_the_earliest_retry_time(
    tmp_path: Path, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock)
    for profile, wait in (("a", 300), ("b", 40), ("c", 120)):
        emulator.limit(session(accounts[profile]), retry_after=wait)
    async with store, AsyncClient(config, store=store, transport=transport, clock=clock) as client:
        with pytest.raises(RateLimited) as caught:
            await chat(client)
        assert served_by(emulator, accounts) == ["a", "b", "c"]  # each tried once
        assert caught.value.retry_after == pytest.approx(40)
        assert "every profile is resting after a rate limit (a, b, c)" in str(caught.value)
        assert "b is free again in 40s" in str(caught.value)
        # The next call sends nothing: every profile still rests.
        with pytest.raises(RateLimited):
            await chat(client)
        assert len(emulator.chat_requests()) == 3
        # A call naming its profile still goes out (and meets the site's 429 itself).
        with pytest.raises(RateLimited, match="429"):
            await chat(client, profile="b")
        assert len(emulator.chat_requests()) == 4


class Refresher:
    """An in-process harvest of any profile through the emulator, counted."""

    def __init__(self, transport: ASGITransport, store: CredentialStore, clock: Clock) -> None:
        self.transport, self.store, self.clock = transport, store, clock
        self.harvests: list[str] = []
        self.started, self.release, self.done = anyio.Event(), anyio.Event(), anyio.Event()

    async def refresh(self, provider: str, profile: str = "default") -> Credential:
        self.harvests.append(profile)
        self.started.set()
        await self.release.wait()  # a harvest takes a while: calls go on meanwhile
        self.clock.now += 1  # harvested after the refusal
        stored = await self.store.put(await account(self.transport, profile, self.clock))
        self.done.set()
        return stored


async def test_a_refused_profile_is_harvested_again_once_while_the_others_serve(
    tmp_path: Path, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock)
    emulator.end_session(session(accounts["a"]))
    async with store:
        refresher = Refresher(transport, store, clock)
        async with AsyncClient(
            config, store=store, transport=transport, clock=clock, refresher=refresher
        ) as client:
            # a is refused: the call moves on, a's harvest starts and waits.
            assert await chat(client) == EXPECTED
            assert served_by(emulator, accounts) == ["a", "b"]
            with anyio.fail_after(10):
                await refresher.started.wait()
            # Meanwhile b and c answer every call; a (stale) is not tried.
            answers: list[str] = []

            async def one() -> None:
                answers.append(await chat(client))

            async with anyio.create_task_group() as group:
                for _ in range(6):
                    group.start_soon(one)
            assert answers == [EXPECTED] * 6
            assert set(served_by(emulator, accounts)[2:]) == {"b", "c"}
            assert refresher.harvests == ["a"]
            refresher.release.set()
            with anyio.fail_after(10):
                await refresher.done.wait()
        renewed = await store.get("freenetfly", "a")
        assert renewed is not None
        assert renewed.status == CredentialStatus.FRESH
        assert renewed.harvested_at > accounts["a"].harvested_at
        assert refresher.harvests == ["a"]


async def test_max_streams_caps_each_profiles_concurrent_streams(
    tmp_path: Path, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock, max_streams=2)
    emulator.state.chunk_delay = 0.002  # streams overlap
    async with store, AsyncClient(config, store=store, transport=transport, clock=clock) as client:
        answers: list[str] = []

        async def one() -> None:
            answers.append(await chat(client))

        async with anyio.create_task_group() as group:
            for _ in range(12):  # twice what the three profiles take at once
                group.start_soon(one)
    assert answers == [EXPECTED] * 12
    peaks = {p: emulator.state.peak.get(session(c), 0) for p, c in accounts.items()}
    assert peaks == {"a": 2, "b": 2, "c": 2}  # the least loaded first: all three in use


async def test_another_processes_writes_are_seen_within_the_documented_delay(
    tmp_path: Path, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock)
    async with store, CredentialStore.open(config.database, clock=clock) as elsewhere:
        async with AsyncClient(config, store=store, transport=transport, clock=clock) as client:
            view = client.view
            first = await view.get("freenetfly", "a")
            assert first is not None
            reads = view.reads
            for _ in range(50):  # from memory: no store read each
                assert await view.get("freenetfly", "a") is first
            assert view.reads == reads
            # Another process harvests a, and marks b stale.
            newer = await elsewhere.put(await account(transport, "a", clock))
            await elsewhere.mark("freenetfly", "b", CredentialStatus.STALE, "refused")
            await anyio.sleep(2 * FRESH_FOR)  # past the documented delay
            seen = await view.get("freenetfly", "a")
            assert seen is not None
            assert seen.harvested_at == newer.harvested_at
            assert seen.cookies == newer.cookies
            marked = await view.get("freenetfly", "b")
            assert marked is not None
            assert marked.status == CredentialStatus.STALE
            # The pool takes the newer a, and never the stale b over a usable one.
            emulator.limit(session(newer), retry_after=60)
            assert await chat(client) == EXPECTED
            assert await chat(client) == EXPECTED
        accounts["a"] = newer
        assert served_by(emulator, accounts) == ["a", "c", "c"]


async def test_coalesced_write_back_keeps_the_newest_value_and_never_a_newer_harvests(
    tmp_path: Path, transport: ASGITransport
) -> None:
    clock = Clock()
    config, store, accounts = await setup(tmp_path, transport, clock)
    async with store, AsyncClient(config, store=store, transport=transport, clock=clock) as client:
        view = client.view
        credential = accounts["a"]
        host = credential.cookies[0].domain
        for value in ("1", "2", "3"):
            used = view.rotate(credential, [Cookie("rot", value, domain=host)])
            # The next request uses it at once.
            assert {c.name: c.value for c in used.cookies}["rot"] == value
        assert view.writes == 0
        await view.flush()
        assert view.writes == 1  # three rotations, one write
        stored = await store.get("freenetfly", "a")
        assert stored is not None
        assert {c.name: c.value for c in stored.cookies}["rot"] == "3"
        assert stored.generation == credential.generation + 1
        # A newer harvest lands (another process); a rotation of the old one waits to be
        # written. The newer harvest wins: the old rotation is dropped, not merged in.
        view.rotate(credential, [Cookie("rot", "4", domain=host)])
        newer = await store.put(
            dataclasses.replace(await account(transport, "a", clock), harvested_at=clock() + 5)
        )
        await view.flush()
        kept = await store.get("freenetfly", "a")
        assert kept is not None
        assert kept.harvested_at == newer.harvested_at
        assert "rot" not in {c.name for c in kept.cookies}
        # Concurrent writers merge, never refuse each other: two views, one harvest.
        async with (
            CredentialStore.open(config.database, clock=clock) as other_store,
            AsyncClient(config, store=other_store, transport=transport, clock=clock) as other,
        ):
            view.rotate(newer, [Cookie("mine", "x", domain=host)])
            other.view.rotate(newer, [Cookie("theirs", "y", domain=host)])
            await view.flush()
            await other.view.flush()
        merged = await store.get("freenetfly", "a")
        assert merged is not None
        names = {c.name: c.value for c in merged.cookies}
        assert (names["mine"], names["theirs"]) == ("x", "y")


async def test_a_client_killed_mid_burst_loses_at_most_the_write_back_interval(
    tmp_path: Path,
) -> None:
    # A client rotating a cookie on every answer, SIGKILLed: the store keeps a value it
    # was given no longer than the interval (plus a generous margin for a loaded
    # machine) before the kill, and the credential is whole.
    database, interval, margin = tmp_path / "credentials.db", 0.2, 2.0
    command = [sys.executable, "-m", "tests.client._burst", str(database), str(interval)]
    given: list[tuple[float, str]] = []
    async with await anyio.open_process(command, cwd=ROOT) as burst:
        assert burst.stdout is not None
        lines = TextReceiveStream(burst.stdout)
        buffer = ""
        with anyio.fail_after(60):
            while not given or given[-1][0] - given[0][0] < margin + 2:
                buffer += await lines.receive()
                *done, buffer = buffer.split("\n")
                given += [(time.monotonic(), value) for value in done]
        burst.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await burst.wait()
    values = [value for _, value in given]
    async with CredentialStore.open(database) as store:
        stored = await store.get("freenetfly", "default")
    assert stored is not None
    assert stored.status == CredentialStatus.FRESH
    assert {c.name for c in stored.cookies} == {"nf_sid", "rot"}
    kept = next(c.value for c in stored.cookies if c.name == "rot")
    assert kept in values
    written_by = max(i for i, (at, _) in enumerate(given) if at < killed - interval - margin)
    assert values.index(kept) >= written_by, (kept, values[written_by], len(values))
