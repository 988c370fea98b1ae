"""When the daemon harvests next: a pure function of the credential and the clock."""

from __future__ import annotations

import dataclasses
import math

import anyio
import pytest

from client import Config
from harvester import Harvester
from harvester._daemon import Daemon, next_delay
from storage import Credential, CredentialStatus, CredentialStore

from ._site import Site

NOW = 1_800_000_000.0


def delay(credential: Credential | None, failures: int = 0, jitter: float = 1.0) -> float:
    return next_delay(
        credential,
        NOW,
        before=300,
        failures=failures,
        backoff=30,
        backoff_max=1800,
        rng=lambda low, high: {1.0: 1.0, 0.9: low, 1.1: high}[jitter],
    )


def fresh(expires_in: float | None) -> Credential:
    expires = None if expires_in is None else NOW + expires_in
    return Credential(provider="p", harvested_at=NOW - 10, expires_at=expires)


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        (None, 0.0),
        (fresh(3600), 3300.0),
        (fresh(200), 0.0),  # already inside the refresh window
        (fresh(-5), 0.0),
        (fresh(None), math.inf),
        (Credential(provider="p", expires_at=NOW + 3600, status=CredentialStatus.STALE), 0.0),
        (Credential(provider="p", expires_at=NOW + 3600, status=CredentialStatus.INVALID), 0.0),
    ],
)
def test_due_before_expiry(credential: Credential | None, expected: float) -> None:
    assert delay(credential) == expected


def test_jitter_is_ten_percent_but_never_past_half_the_lead() -> None:
    assert delay(fresh(3600), jitter=0.9) == pytest.approx(2970)
    # +10 % of 3300 s would land 30 s before expiry; the cap keeps 150 s.
    assert delay(fresh(3600), jitter=1.1) == pytest.approx(3450)
    assert delay(fresh(1300), jitter=1.1) == pytest.approx(1100)


@pytest.mark.parametrize(
    ("failures", "expected"), [(1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (20, 1800)]
)
def test_backoff_doubles_from_30s_up_to_30m(failures: int, expected: float) -> None:
    assert delay(fresh(3600), failures=failures) == expected
    assert delay(None, failures=failures, jitter=0.9) == pytest.approx(expected * 0.9)


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_request_answered_by_a_harvest_that_landed_after_it_harvests_nothing(
    site: Site, config: Config
) -> None:
    # A client asks while another client's renewal is landing: that credential, harvested
    # after the request, answers it; the daemon finishes the request without a browser run.
    config = dataclasses.replace(
        config, harvester=dataclasses.replace(config.harvester, poll_interval=0.5)
    )
    async with Harvester(config, recipes=site.recipes()) as harvester:
        first = await harvester.refresh("site")
        store = harvester.store
        async with anyio.create_task_group() as group:
            group.start_soon(Daemon(harvester, config).keep)
            request = await store.request_refresh("site", "default", "refused")
            landed = await store.put(
                dataclasses.replace(first, harvested_at=request.requested_at + 0.001)
            )
            await served(store, within=30)
            group.cancel_scope.cancel()
        assert len(await store.recent_attempts("site", "default", limit=10)) == 1
        current = await store.get("site", "default")
        assert current is not None
        assert current.generation == landed.generation


@pytest.mark.browser
@pytest.mark.anyio
async def test_a_request_naming_its_refused_credential_is_answered_by_any_newer_one(
    site: Site, config: Config
) -> None:
    # The window between a harvest's stamp and its write: a client sends with the old
    # credential, is refused, and asks after the new one was stamped. The new one, newer
    # than the refused one, answers it: no second harvest for one refusal.
    config = dataclasses.replace(
        config, harvester=dataclasses.replace(config.harvester, poll_interval=0.5)
    )
    async with Harvester(config, recipes=site.recipes()) as harvester:
        refused = await harvester.refresh("site")
        store = harvester.store
        landed = await store.put(
            dataclasses.replace(refused, harvested_at=refused.harvested_at + 0.001)
        )
        async with anyio.create_task_group() as group:
            group.start_soon(Daemon(harvester, config).keep)
            request = await store.request_refresh(
                "site", "default", "refused", newer_than=refused.harvested_at
            )
            assert request.requested_at > landed.harvested_at
            await served(store, within=30)
            # Refused in turn, the landed one is named: that asks for a harvest.
            await store.request_refresh(
                "site", "default", "refused", newer_than=landed.harvested_at
            )
            await served(store, within=60)
            group.cancel_scope.cancel()
        assert len(await store.recent_attempts("site", "default", limit=10)) == 2
        current = await store.get("site", "default")
        assert current is not None
        assert current.harvested_at > landed.harvested_at


async def served(store: CredentialStore, *, within: float) -> None:
    """Until the daemon has finished every refresh request."""
    with anyio.fail_after(within):
        while await store.pending_refreshes():  # noqa: ASYNC110 - the store has no event
            await anyio.sleep(0.05)
