"""``AsyncClient``'s own logic (retries, rejections, refreshes) through the transport
seam: the FreeNetfly emulator answers in-process, so these need no Chromium, TLS or
proxy (the end-to-end tests prove the same against real Chromium and curl_cffi)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from client import (
    AsyncClient,
    Config,
    CredentialRejected,
    ProviderConfig,
    StreamBroken,
    TextDelta,
)
from client._cookies import received_cookies
from storage import Credential, CredentialStore

from ..emulators._base import Fault
from ..emulators.freenetfly import HOST, FreeNetflyEmulator, answer_text
from ._asgi_transport import ASGITransport

pytestmark = pytest.mark.anyio

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
PROMPT = "Hello there"
EXPECTED = "".join(
    answer_text({"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": PROMPT}]})
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # The site's documented 2-16 s backoff, shortened; its 4 retries stay.
    quick = ProviderConfig(retry_backoff=0.001, retry_backoff_max=0.002)
    return Config(database=tmp_path / "credentials.db", providers={"freenetfly": quick})


async def tally(client: AsyncClient, results: list[str], failures: list[BaseException]) -> None:
    """One answer's text into ``results``, or its error into ``failures`` (counted,
    then asserted on)."""
    try:
        text, _ = await answer(client)
    except Exception as exc:
        failures.append(exc)
    else:
        results.append(text)


async def session_of(transport: ASGITransport) -> Credential:
    """What a harvest stores: the session cookie the page sets for this user agent."""
    url = f"https://{HOST}/"
    anonymous = Credential("freenetfly", user_agent=UA)
    async with transport.request(anonymous, "GET", url, headers=[("user-agent", UA)]) as reply:
        await reply.body()
        cookies = received_cookies(reply.header_list("set-cookie"), url, now=time.time())
    now = time.time()
    return Credential(
        "freenetfly",
        user_agent=UA,
        headers=(("user-agent", UA),),
        cookies=tuple(cookies),
        harvested_at=now,
        expires_at=now + 3600,
    )


class CountingRefresher:
    """An in-process refresher that harvests through the emulator, counting harvests."""

    def __init__(self, transport: ASGITransport, store: CredentialStore) -> None:
        self._transport = transport
        self._store = store
        self.harvests = 0

    async def refresh(self, provider: str, profile: str = "default") -> Credential:
        self.harvests += 1
        await anyio.sleep(0.05)  # a harvest takes a while: the other callers pile up
        return await self._store.put(await session_of(self._transport))


async def answer(client: AsyncClient) -> tuple[str, int]:
    text, events = "", 0
    async for event in client.stream("freenetfly", PROMPT):
        events += 1
        if isinstance(event, TextDelta):
            text += event
    return text, events


async def test_a_5xx_before_the_first_event_is_retried(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    emulator.add_fault(Fault(status=503))
    emulator.add_fault(Fault(status=502))
    async with CredentialStore.open(config.database) as store:
        await store.put(await session_of(transport))
        async with AsyncClient(config, store=store, transport=transport) as client:
            text, _ = await answer(client)
    assert text == EXPECTED
    assert transport.sent == 1 + 3  # the page, then two refusals and the answer


async def test_a_break_after_the_first_event_is_not_retried(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    emulator.add_fault(Fault(cut_after=4))
    got: list[str] = []

    async def collect(client: AsyncClient) -> None:
        async for event in client.stream("freenetfly", PROMPT):
            if isinstance(event, TextDelta):
                got.append(event)

    async with CredentialStore.open(config.database) as store:
        await store.put(await session_of(transport))
        async with AsyncClient(config, store=store, transport=transport) as client:
            with pytest.raises(StreamBroken) as broken:
                await collect(client)
    text = "".join(got)
    assert text
    assert EXPECTED.startswith(text)
    assert text != EXPECTED
    assert broken.value.delivered >= 1
    assert transport.sent == 1 + 1  # the page, then one chat: never sent again


async def test_ten_concurrent_rejections_share_one_refresh(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    async with CredentialStore.open(config.database) as store:
        first = await store.put(await session_of(transport))
        emulator.invalidate()  # every session the site issued is refused now
        refresher = CountingRefresher(transport, store)
        async with AsyncClient(
            config, store=store, transport=transport, refresher=refresher
        ) as client:
            results: list[str] = []

            async def one() -> None:
                text, _ = await answer(client)
                results.append(text)

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(one)
        now = await store.get("freenetfly")
    assert results == [EXPECTED] * 10
    assert refresher.harvests == 1
    assert now is not None
    assert now.harvested_at > first.harvested_at
    assert now.cookies != first.cookies


async def test_a_credential_refused_again_after_its_refresh_is_an_error(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    async with CredentialStore.open(config.database) as store:
        await store.put(await session_of(transport))
        emulator.add_fault(Fault(status=403))
        emulator.add_fault(Fault(status=403))
        refresher = CountingRefresher(transport, store)
        async with AsyncClient(
            config, store=store, transport=transport, refresher=refresher
        ) as client:
            with pytest.raises(CredentialRejected, match="even with a credential harvested"):
                await answer(client)
    assert refresher.harvests == 1


async def test_control_characters_in_set_cookie_cost_only_that_cookie(
    config: Config,
    transport: ASGITransport,
    emulator: FreeNetflyEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # HTTP/2 refuses these bytes on the wire (curl and Chromium alike), so only the
    # seam can hand them to the client, as a lenient HTTP/1.1 peer would.
    hostile = ("nul=1\x00x", "bell=secret\x07; Path=/", "del\x7f=1", "kept=2; Path=/")
    emulator.add_fault(Fault(set_cookie=hostile))
    async with CredentialStore.open(config.database) as store:
        await store.put(await session_of(transport))
        async with AsyncClient(config, store=store, transport=transport) as client:
            with caplog.at_level("WARNING", "client"):
                text, _ = await answer(client)
        stored = await store.get("freenetfly")
    assert text == EXPECTED
    assert stored is not None
    assert sorted(c.name for c in stored.cookies) == ["kept", "nf_sid"]
    logged = [r.getMessage() for r in caplog.records]
    assert sum("control character" in m for m in logged) == 3
    assert not any("secret" in m for m in logged)


async def test_revocations_under_load_cost_one_harvest_each_and_no_stream(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    emulator.state.rotate_cookie = True  # concurrent write-backs on every answer
    emulator.state.keep_requests = False
    emulator.state.chunk_delay = 0.002  # streams that last: revocations land mid-run
    streams, revocations = 400, 0
    async with CredentialStore.open(config.database) as store:
        await store.put(await session_of(transport))
        refresher = CountingRefresher(transport, store)
        async with AsyncClient(
            config, store=store, transport=transport, refresher=refresher
        ) as client:
            results: list[str] = []
            failures: list[BaseException] = []

            async def one() -> None:
                await tally(client, results, failures)

            async def revoke() -> None:
                nonlocal revocations
                while len(results) + len(failures) < streams:
                    await anyio.sleep(0.3)
                    emulator.invalidate()
                    revocations += 1

            async with anyio.create_task_group() as group:
                group.start_soon(revoke)
                limiter = anyio.CapacityLimiter(40)

                async def limited() -> None:
                    async with limiter:
                        await one()

                for _ in range(streams):
                    group.start_soon(limited)
    assert failures == []
    assert results == [EXPECTED] * streams
    assert revocations >= 2
    assert 1 <= refresher.harvests <= revocations


class LateHarvest(ASGITransport):
    """Stores ``late`` (another harvest) while the first chat request is in flight, as
    another process's harvest can land."""

    def __init__(self, apps: dict[str, FreeNetflyEmulator], store: CredentialStore) -> None:
        super().__init__(apps)
        self.store = store
        self.late: Credential | None = None

    @contextlib.asynccontextmanager
    async def request(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async with super().request(*args, **kwargs) as reply:
            late, self.late = self.late, None
            if late is not None:
                await self.store.put(late)
            yield reply


async def test_a_refusal_is_renewed_by_a_credential_harvested_after_it(
    config: Config, emulator: FreeNetflyEmulator
) -> None:
    async with CredentialStore.open(config.database) as store:
        transport = LateHarvest({HOST: emulator}, store)
        first = await store.put(await session_of(transport))
        earlier = await session_of(transport)
        emulator.invalidate()  # the site revokes both
        # Harvested before the refused request went out (both were made before it).
        between = (first.harvested_at + earlier.harvested_at) / 2
        transport.late = dataclasses.replace(earlier, harvested_at=between)
        refresher = CountingRefresher(transport, store)
        async with AsyncClient(
            config, store=store, transport=transport, refresher=refresher
        ) as client:
            text, _ = await answer(client)
    assert text == EXPECTED
    # The late one, newer than the refused one, was tried once (it might have been made
    # after the revocation); refused too, it asked for one harvest, not two.
    assert refresher.harvests == 1


async def test_a_newer_stored_credential_than_the_refused_one_is_tried_before_a_harvest(
    config: Config, emulator: FreeNetflyEmulator
) -> None:
    # The race of concurrent clients: one reads the credential, another's renewal lands
    # (harvested before the first sends), the first is refused. The renewal was never
    # refused: it answers, with no harvest and no daemon.
    async with CredentialStore.open(config.database) as store:
        transport = LateHarvest({HOST: emulator}, store)
        first = await store.put(await session_of(transport))
        emulator.invalidate()  # the site revokes the first
        renewal = await session_of(transport)
        # Harvested between the first and the refused request's sending.
        between = (first.harvested_at + time.time()) / 2
        transport.late = dataclasses.replace(renewal, harvested_at=between)
        async with AsyncClient(config, store=store, transport=transport) as client:
            # No refresher and no daemon: a renewal would fail this call.
            text, _ = await answer(client)
        stored = await store.get("freenetfly", "default")
    assert text == EXPECTED
    assert stored is not None
    assert stored.harvested_at == between


async def test_revocations_with_a_daemon_and_three_clients_fail_no_stream(
    config: Config, transport: ASGITransport, emulator: FreeNetflyEmulator
) -> None:
    """Clients with no refresher of their own ask the store's daemon, as separate
    processes do; every answer rotates a cookie, so write-backs race the stale marks."""
    emulator.state.rotate_cookie = True
    emulator.state.keep_requests = False
    emulator.state.chunk_delay = 0.005
    streams, revocations, harvests = 600, 0, 0
    results: list[str] = []
    failures: list[BaseException] = []
    async with (
        CredentialStore.open(config.database) as daemon_store,
        CredentialStore.open(config.database) as store,
    ):
        await daemon_store.put(await session_of(transport))
        assert await daemon_store.claim_daemon() is None

        async def serve() -> None:
            # The daemon's contract: claim; harvest unless the stored credential is newer
            # than the one the asker found wanting (another client's renewal landing
            # while it asked); finish.
            nonlocal harvests
            while True:
                for request in await daemon_store.take_refresh_requests("daemon"):
                    current = await daemon_store.get("freenetfly", "default")
                    if current is None or current.harvested_at <= request.answered_after:
                        harvests += 1
                        await daemon_store.put(await session_of(transport))
                    await daemon_store.finish_refresh(request)
                await anyio.sleep(0.02)

        async def revoke() -> None:
            nonlocal revocations
            while len(results) + len(failures) < streams:
                await anyio.sleep(1.5)  # well beyond a renewal through the daemon
                emulator.invalidate()
                revocations += 1

        async def run(client: AsyncClient, limiter: anyio.CapacityLimiter) -> None:
            async with limiter:
                await tally(client, results, failures)

        async with anyio.create_task_group() as daemon:
            daemon.start_soon(serve)
            async with (
                AsyncClient(config, store=store, transport=transport) as one,
                AsyncClient(config, store=store, transport=transport) as two,
                AsyncClient(config, store=store, transport=transport) as three,
                anyio.create_task_group() as group,
            ):
                group.start_soon(revoke)
                limiter = anyio.CapacityLimiter(60)
                for n in range(streams):
                    group.start_soon(run, (one, two, three)[n % 3], limiter)
            daemon.cancel_scope.cancel()
    assert [str(f) for f in failures] == []
    assert results == [EXPECTED] * streams
    assert revocations >= 2
    assert 1 <= harvests <= revocations
