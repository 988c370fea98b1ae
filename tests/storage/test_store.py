"""The credential store on a real SQLite file: round trips, generations, CAS, leases."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from storage import (
    Attempt,
    Cookie,
    Credential,
    CredentialStatus,
    CredentialStore,
    StoreClosed,
    holder_is_dead,
    holder_name,
)

from .conftest import START, FakeClock, full_credential

pytestmark = pytest.mark.anyio


async def test_round_trip_keeps_every_field(store: CredentialStore) -> None:
    original = full_credential()
    stored = await store.put(original)
    assert stored == dataclasses.replace(original, generation=1)
    loaded = await store.get("cloudflare", "default")
    assert loaded == stored
    # Field by field, so a failure names the field that was lost.
    for field in dataclasses.fields(original):
        if field.name != "generation":
            assert getattr(loaded, field.name) == getattr(original, field.name), field.name
    assert loaded is not None
    assert loaded.headers == original.headers  # order kept
    assert [dataclasses.asdict(c) for c in loaded.cookies] == [
        dataclasses.asdict(c) for c in original.cookies
    ]


async def test_round_trip_of_an_empty_credential(store: CredentialStore) -> None:
    from storage import Credential

    stored = await store.put(Credential(provider="flowgpt", profile="p"))
    assert await store.get("flowgpt", "p") == stored


async def test_generation_grows_with_every_write(store: CredentialStore) -> None:
    first = await store.put(full_credential())
    second = await store.put(full_credential(user_agent="other"))
    assert (first.generation, second.generation) == (1, 2)
    assert await store.mark("cloudflare", "default", "stale", "403 from /api/inference")
    assert await store.merge_cookies(
        "cloudflare", "default", [Cookie("n", "v", "playground.ai.cloudflare.com")], generation=3
    )
    loaded = await store.get("cloudflare", "default")
    assert loaded is not None
    assert loaded.generation == 4
    assert loaded.user_agent == "other"
    # Other profiles count on their own.
    assert (await store.put(full_credential(profile="second"))).generation == 1


async def test_put_replaces_the_whole_credential(store: CredentialStore) -> None:
    await store.put(full_credential())
    await store.put(full_credential(cookies=(), tokens={}, headers=(), last_error=None))
    loaded = await store.get("cloudflare", "default")
    assert loaded is not None
    assert (loaded.cookies, loaded.tokens, loaded.headers) == ((), {}, ())


async def test_get_without_profile_picks_the_newest_fresh_unexpired(
    store: CredentialStore, clock: FakeClock
) -> None:
    assert await store.get("cloudflare") is None
    await store.put(full_credential(profile="old", harvested_at=START - 100))
    await store.put(full_credential(profile="new", harvested_at=START))
    await store.put(
        full_credential(
            profile="newest-stale", harvested_at=START + 5, status=CredentialStatus.STALE
        )
    )
    await store.put(
        full_credential(profile="newest-expired", harvested_at=START + 6, expires_at=START - 1)
    )
    await store.put(full_credential(provider="flowgpt", profile="x", harvested_at=START + 9))
    best = await store.get("cloudflare")
    assert best is not None
    assert best.profile == "new"
    await store.mark("cloudflare", "new", CredentialStatus.STALE)
    best = await store.get("cloudflare")
    assert best is not None
    assert best.profile == "old"
    clock.advance(1801)  # past expires_at of "old"
    assert await store.get("cloudflare") is None
    # With a profile, the row comes back whatever its state.
    stale = await store.get("cloudflare", "newest-stale")
    assert stale is not None
    assert stale.status is CredentialStatus.STALE


async def test_list(store: CredentialStore) -> None:
    await store.put(full_credential("flowgpt", "b"))
    await store.put(full_credential("cloudflare", "z"))
    await store.put(full_credential("cloudflare", "a"))
    assert [(c.provider, c.profile) for c in await store.list()] == [
        ("cloudflare", "a"),
        ("cloudflare", "z"),
        ("flowgpt", "b"),
    ]
    assert [c.profile for c in await store.list("cloudflare")] == ["a", "z"]
    assert await store.list("nobody") == []


async def test_mark_keeps_the_credential(store: CredentialStore) -> None:
    stored = await store.put(full_credential())
    assert await store.mark("cloudflare", "default", "invalid", "harvest failed: timeout")
    loaded = await store.get("cloudflare", "default")
    assert loaded == dataclasses.replace(
        stored, status=CredentialStatus.INVALID, last_error="harvest failed: timeout", generation=2
    )
    assert not await store.mark("cloudflare", "missing", "stale")
    with pytest.raises(ValueError, match="bogus"):
        await store.mark("cloudflare", "default", "bogus")


async def test_mark_with_generation_never_touches_a_newer_harvest(store: CredentialStore) -> None:
    old = await store.put(full_credential())
    await store.put(full_credential(user_agent="re-harvested"))
    assert not await store.mark("cloudflare", "default", "stale", generation=old.generation)
    loaded = await store.get("cloudflare", "default")
    assert loaded is not None
    assert loaded.status is CredentialStatus.FRESH


async def test_merge_cookies_replaces_adds_and_deletes(store: CredentialStore) -> None:
    stored = await store.put(full_credential())
    rotated = Cookie("__cf_bm", "rotated", "playground.ai.cloudflare.com", "/api")
    added = Cookie("new", "n", "playground.ai.cloudflare.com")
    deleted = Cookie("cf_clearance", "", ".ai.cloudflare.com", "/", expires=START - 1)
    assert await store.merge_cookies(
        "cloudflare", "default", [rotated, added, deleted], generation=stored.generation
    )
    loaded = await store.get("cloudflare", "default")
    assert loaded is not None
    assert {c.name: c.value for c in loaded.cookies} == {"__cf_bm": "rotated", "new": "n"}
    # Everything else is untouched.
    assert loaded.tokens == stored.tokens
    assert loaded.headers == stored.headers


async def test_merge_cookies_refuses_a_stale_write_back(store: CredentialStore) -> None:
    old = await store.put(full_credential())
    new = await store.put(
        full_credential(cookies=(Cookie("cf_clearance", "fresh", ".ai.cloudflare.com"),))
    )
    applied = await store.merge_cookies(
        "cloudflare",
        "default",
        [Cookie("cf_clearance", "from-old-session", ".ai.cloudflare.com")],
        generation=old.generation,
    )
    assert applied is False
    loaded = await store.get("cloudflare", "default")
    assert loaded == new
    assert not await store.merge_cookies("cloudflare", "missing", [], generation=1)


async def test_refresh_requests_coalesce_and_are_taken_once(
    store: CredentialStore, clock: FakeClock
) -> None:
    first = await store.request_refresh("cloudflare", "default", "403 interstitial")
    again = await store.request_refresh("cloudflare", "default", "another 403")
    other = await store.request_refresh("flowgpt")
    assert again == first
    assert first.reason == "403 interstitial"
    assert other.profile == "default"
    taken = await store.take_refresh_requests("daemon-1")
    assert [(r.id, r.taken_by) for r in taken] == [(first.id, "daemon-1"), (other.id, "daemon-1")]
    assert await store.take_refresh_requests("daemon-2") == []
    await store.finish_refresh(first)
    assert [r.id for r in await store.pending_refreshes()] == [other.id]
    # A claim whose holder died expires, and the request is served by someone else.
    clock.advance(61)
    assert [r.id for r in await store.take_refresh_requests("daemon-2")] == [other.id]
    await store.finish_refresh(other.id)
    assert await store.pending_refreshes() == []
    # Once served, a new request is a new one.
    assert (await store.request_refresh("cloudflare")).id != first.id


async def test_a_refresh_request_asks_for_a_credential_newer_than_every_askers(
    store: CredentialStore, clock: FakeClock
) -> None:
    # Without a credential to name, one harvested after the request answers it.
    plain = await store.request_refresh("flowgpt")
    assert plain.newer_than is None
    assert plain.answered_after == plain.requested_at
    first = await store.request_refresh("cloudflare", newer_than=100.0)
    assert first.answered_after == 100.0
    # A later asker refused with a newer credential raises the bar; an older one does not.
    clock.advance(1)
    assert (await store.request_refresh("cloudflare", newer_than=150.0)).newer_than == 150.0
    assert (await store.request_refresh("cloudflare", newer_than=120.0)).newer_than == 150.0
    assert (await store.request_refresh("cloudflare")).newer_than == 150.0
    taken = {r.provider: r for r in await store.take_refresh_requests("daemon")}
    assert taken["cloudflare"].id == first.id
    assert taken["cloudflare"].answered_after == 150.0
    assert taken["cloudflare"].requested_at == first.requested_at


async def test_lease_exclusive_renewable_and_taken_over_after_expiry(
    store: CredentialStore, clock: FakeClock
) -> None:
    lease = await store.acquire("cloudflare", "default", "holder-a", ttl=30)
    assert lease is not None
    assert lease.expires_at == START + 30
    assert await store.acquire("cloudflare", "default", "holder-b", ttl=30) is None
    assert await store.acquire("cloudflare", "other", "holder-b", ttl=30) is not None
    assert (
        await store.acquire("cloudflare", "default", "holder-a", ttl=30) is not None
    )  # re-entrant
    assert await store.holder("cloudflare", "default") == lease
    clock.advance(20)
    renewed = await store.renew(lease, ttl=30)
    assert renewed is not None
    assert renewed.expires_at == START + 50
    clock.advance(29)
    assert await store.acquire("cloudflare", "default", "holder-b", ttl=30) is None
    clock.advance(2)  # past START + 50
    assert await store.holder("cloudflare", "default") is None
    taken = await store.acquire("cloudflare", "default", "holder-b", ttl=30)
    assert taken is not None
    assert taken.holder == "holder-b"
    # The old holder has lost it: it can neither renew nor release it.
    assert await store.renew(lease, ttl=30) is None
    assert await store.release(lease) is False
    assert await store.release(taken) is True
    assert await store.acquire("cloudflare", "default", "holder-a", ttl=30) is not None


async def test_history_newest_first_filtered_and_bounded(store: CredentialStore) -> None:
    for i in range(3):
        await store.record_attempt(
            Attempt("cloudflare", "default", START + i, 1.5, i != 1, "timeout" if i == 1 else None)
        )
    await store.record_attempt(Attempt("flowgpt", "default", START, 0.5, True))
    recent = await store.recent_attempts("cloudflare", "default")
    assert [(a.started, a.ok, a.error) for a in recent] == [
        (START + 2, True, None),
        (START + 1, False, "timeout"),
        (START, True, None),
    ]
    assert len(await store.recent_attempts()) == 4
    assert len(await store.recent_attempts(limit=2)) == 2
    assert [a.provider for a in await store.recent_attempts("flowgpt")] == ["flowgpt"]
    for i in range(510):
        await store.record_attempt(Attempt("flowgpt", "default", START + i, 0.1, True))
    assert len(await store.recent_attempts("flowgpt", limit=10_000)) == 500
    assert len(await store.recent_attempts("cloudflare", limit=10_000)) == 3


async def test_a_closed_store_refuses_use(database: object) -> None:
    store = await CredentialStore.open(database)  # type: ignore[arg-type]
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(StoreClosed, match="closed"):
        await store.get("cloudflare")
    assert "closed" in repr(store)


async def test_cancelled_write_leaves_no_open_transaction(
    store: CredentialStore, database: str
) -> None:
    import anyio

    stored = await store.put(full_credential())
    with anyio.move_on_after(0):
        await store.put(full_credential(user_agent="never"))
    # The store still works, and writes from other connections are not blocked.
    async with CredentialStore.open(database, busy_timeout=2) as other:
        assert await other.mark("cloudflare", "default", "stale")
    loaded = await store.get("cloudflare", "default")
    assert loaded is not None
    assert loaded.user_agent == stored.user_agent
    assert loaded.status is CredentialStatus.STALE


def test_usable_means_fresh_and_not_expired() -> None:
    fresh = Credential("cloudflare", expires_at=START + 60)
    assert fresh.is_usable(START)
    assert not fresh.is_usable(START + 60)  # expired at its expiry
    assert Credential("cloudflare").is_usable(START)  # no expiry
    for status in (CredentialStatus.STALE, CredentialStatus.INVALID):
        assert not Credential("cloudflare", status=status).is_usable(START)


def dead_holder() -> str:
    """The holder name a process of this machine had before it exited."""
    process = subprocess.run(
        [sys.executable, "-c", "from storage import holder_name; print(holder_name())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return process.stdout.strip()


async def test_a_dead_holders_lease_and_claims_are_free_at_once(
    store: CredentialStore, clock: FakeClock
) -> None:
    dead = dead_holder()
    assert holder_is_dead(dead)
    assert not holder_is_dead(holder_name())
    assert not holder_is_dead("another-host:1:abc")  # never known dead from here
    assert await store.acquire("cloudflare", "default", dead, ttl=180)
    assert await store.holder("cloudflare", "default") is None  # nobody waits for it
    assert await store.acquire("cloudflare", "default", holder_name(), ttl=30)
    # A holder on another machine is never known dead here: its lease must lapse.
    assert await store.acquire("dash", "default", "other-host:7:x", ttl=30)
    assert await store.acquire("dash", "default", holder_name(), ttl=30) is None
    clock.advance(31)
    assert await store.acquire("dash", "default", holder_name(), ttl=30)
    request = await store.request_refresh("cloudflare", "default")
    (taken,) = await store.take_refresh_requests(dead, ttl=600)
    assert taken.id == request.id
    (freed,) = await store.take_refresh_requests("other-host:7:x", ttl=60)  # at once
    assert freed.taken_by == "other-host:7:x"
    mine = holder_name()
    assert await store.take_refresh_requests(mine, ttl=60) == []  # theirs until it lapses
    clock.advance(61)
    (again,) = await store.take_refresh_requests(mine, ttl=60)
    assert again.taken_by == mine
    (renewed,) = await store.take_refresh_requests(mine, ttl=60)  # renewing one's own
    assert renewed.id == request.id


async def test_a_stale_mark_by_harvest_survives_cookie_write_backs(store: CredentialStore) -> None:
    stored = await store.put(Credential("cloudflare", harvested_at=START))
    cookie = Cookie("__cf_bm", "rotated", "ai.cloudflare.com")
    assert await store.merge_cookies(
        "cloudflare", "default", [cookie], generation=stored.generation
    )
    # The generation moved on: a mark by generation misses, a mark by harvest does not.
    assert not await store.mark("cloudflare", "default", "stale", generation=stored.generation)
    assert await store.mark("cloudflare", "default", "stale", "refused", harvested_at=START)
    got = await store.get("cloudflare", "default")
    assert got is not None
    assert got.status == CredentialStatus.STALE
    await store.put(Credential("cloudflare", harvested_at=START + 10))
    assert not await store.mark("cloudflare", "default", "stale", harvested_at=START)


async def test_an_unclaimed_refresh_request_can_be_withdrawn(store: CredentialStore) -> None:
    first = await store.request_refresh("cloudflare", "default")
    assert await store.withdraw_refresh(first)
    assert await store.pending_refreshes() == []
    second = await store.request_refresh("cloudflare", "default")
    await store.take_refresh_requests(holder_name())
    assert not await store.withdraw_refresh(second)  # a daemon works on it: it stays
