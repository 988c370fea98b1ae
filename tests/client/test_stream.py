"""The client against the Cloudflare emulator, through the CONNECT proxy, over real TLS.

The credential is harvested once per session by real Chromium (``cloudflare_credential``)
and copied into each test's own database.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from client import (
    AsyncClient,
    Config,
    CredentialRejected,
    Event,
    FinishReason,
    NoCredential,
    ProviderError,
    ProviderSession,
    RateLimited,
    ServerError,
    StreamBroken,
    StreamTimeout,
    Usage,
)
from harvester import Harvester
from storage import Cookie, Credential, CredentialStatus, CredentialStore

from ..conftest import fast
from ..emulators.cloudflare import CloudflareEmulator, Fault, answer_text
from ..emulators.rig import Rig

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

PROMPT = "Tell me something"
MODEL_ID = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
EXPECTED = "".join(
    answer_text(
        {
            "model": MODEL_ID,
            "messages": [{"content": PROMPT}],
            "system_message": "You are a helpful assistant",
        }
    )
)


async def stored(config: Config, credential: Credential, **changes: Any) -> Credential:
    async with CredentialStore.open(config.database) as store:
        return await store.put(dataclasses.replace(credential, **changes))


async def run(client: AsyncClient, prompt: str = PROMPT, **kwargs: Any) -> list[Event]:
    return [e async for e in client.stream("cloudflare", prompt, model="llama-3.3-70b", **kwargs)]


async def drain(client: AsyncClient, into: list[Event]) -> None:
    """Stream into ``into`` so the events before an error stay visible to the test."""
    async for event in client.stream("cloudflare", PROMPT):
        into.append(event)


def text_of(events: Sequence[Event | str]) -> str:
    return "".join(e for e in events if isinstance(e, str))


def with_client(config: Config, **client: Any) -> Config:
    return dataclasses.replace(config, client=dataclasses.replace(config.client, **client))


async def test_a_stream_replays_the_browser_and_yields_typed_events(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    async with AsyncClient(rig_config) as client:
        events = await run(client)
    assert text_of(events) == EXPECTED
    assert events[-2:] == [
        Usage(prompt_tokens=3, completion_tokens=len(answer_text(_body(cloudflare)))),
        FinishReason("stop"),
    ]
    (request,) = cloudflare.inference_requests()
    assert request.http_version == "2"
    browser = dict(cloudflare_credential.headers)
    assert request.header("user-agent") == browser["user-agent"]
    assert "HeadlessChrome" not in browser["user-agent"]
    for hint in ("sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "accept-language"):
        assert request.header(hint) == browser[hint]
    # Chromium's fetch order (the server's HTTP/2 library moves cookie to the end).
    names = [name for name, _ in request.headers if name not in ("host", "cookie")]
    assert names == [
        "content-length",
        "sec-ch-ua-platform",
        "user-agent",
        "sec-ch-ua",
        "content-type",
        "sec-ch-ua-mobile",
        "accept",
        "origin",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "referer",
        "accept-encoding",
        "accept-language",
        "priority",
    ]
    assert set(request.cookies) == {"cf_clearance", "__cf_bm"}


async def test_a_cookie_for_another_host_or_path_is_never_sent(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    foreign = (
        Cookie("other_site", "1", domain="flowgpt.com"),
        Cookie("sibling", "2", domain="dash.cloudflare.com"),
        Cookie("parent_host_only", "3", domain="ai.cloudflare.com"),
        Cookie("other_path", "4", domain="playground.ai.cloudflare.com", path="/static"),
        Cookie("expired", "5", domain="playground.ai.cloudflare.com", expires=1.0),
        Cookie("parent_domain", "6", domain=".ai.cloudflare.com"),
        Cookie("api_path", "7", domain="playground.ai.cloudflare.com", path="/api"),
    )
    cookies = cloudflare_credential.cookies + foreign
    await stored(rig_config, cloudflare_credential, cookies=cookies)
    async with AsyncClient(rig_config) as client:
        assert text_of(await run(client)) == EXPECTED
    (request,) = cloudflare.inference_requests()
    assert set(request.cookies) == {"cf_clearance", "__cf_bm", "parent_domain", "api_path"}


async def test_rotated_cookies_are_written_back_and_used_next(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    first = await stored(rig_config, cloudflare_credential)
    async with AsyncClient(rig_config) as client:
        await run(client)
        # In memory at once (the next request uses it), in the store within
        # write_back_interval: not yet.
        unwritten = await client.store.get("cloudflare")
        await client.view.flush()
        after_one = await client.store.get("cloudflare")
        await run(client)
    assert unwritten is not None
    assert unwritten.generation == first.generation
    assert after_one is not None
    rotated = cloudflare.state.bm_issued[-2]  # set by the first answer
    bm = {c.name: c for c in after_one.cookies}["__cf_bm"]
    assert bm.value == rotated
    assert (bm.http_only, bm.secure) == (True, True)
    assert (bm.domain, bm.host_only) == ("playground.ai.cloudflare.com", False)
    assert after_one.generation == first.generation + 1
    assert after_one.harvested_at == first.harvested_at  # a write-back, not a harvest
    assert cloudflare.inference_requests()[1].cookies["__cf_bm"] == rotated


async def test_write_back_never_overwrites_a_newer_harvest(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    old = await stored(rig_config, cloudflare_credential)
    marker = Cookie("from_new_harvest", "1", domain="playground.ai.cloudflare.com")
    async with AsyncClient(rig_config) as client:
        # A harvest lands while the old credential is in use.
        newer = await client.store.put(
            dataclasses.replace(
                cloudflare_credential,
                cookies=(*cloudflare_credential.cookies, marker),
                harvested_at=old.harvested_at + 1,
            )
        )
        session = ProviderSession(
            client.provider("cloudflare"),
            old,
            transport=client._transport,  # type: ignore[arg-type]
            store=client.store,
        )
        async with session.request("GET", "https://playground.ai.cloudflare.com/") as reply:
            assert reply.header_list("set-cookie")  # the page rotates __cf_bm
        now = await client.store.get("cloudflare")
    assert now is not None
    assert now.generation == newer.generation
    assert {c.name: c.value for c in now.cookies} == {c.name: c.value for c in newer.cookies}
    assert session.credential.generation == newer.generation  # it switched to the newer


async def test_429_raises_rate_limited_with_retry_after_and_no_retry(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    cloudflare.add_fault(Fault(status=429, retry_after=7))
    async with AsyncClient(rig_config) as client:
        with pytest.raises(RateLimited, match=r"429.*retry after 7s") as caught:
            await run(client)
        (resting,) = await client.store.cooldowns("cloudflare")
    # The only profile rests for the site's Retry-After, in the store for every process.
    assert caught.value.retry_after == pytest.approx(7, abs=1)
    assert "every profile is resting after a rate limit (default)" in str(caught.value)
    assert resting.profile == "default"
    assert resting.until - time.time() == pytest.approx(7, abs=1)
    assert len(cloudflare.inference_requests()) == 1


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault(status=503)], id="503"),
        pytest.param([Fault(status=500), Fault(status=502)], id="500 then 502"),
        pytest.param([Fault(cut_after=0)], id="cut before the first record"),
        pytest.param([Fault(cut_after=1)], id="cut after a record with no text"),
    ],
)
async def test_failures_before_the_first_event_are_retried_without_duplicating_text(
    rig_config: Config,
    cloudflare_credential: Credential,
    cloudflare: CloudflareEmulator,
    faults: list[Fault],
) -> None:
    await stored(rig_config, cloudflare_credential)
    for fault in faults:
        cloudflare.add_fault(fault)
    async with AsyncClient(rig_config) as client:
        events = await run(client)
    assert text_of(events) == EXPECTED
    assert len(cloudflare.inference_requests()) == len(faults) + 1


async def test_retries_stop_after_the_configured_number(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    for _ in range(3):
        cloudflare.add_fault(Fault(status=503))
    async with AsyncClient(with_client(rig_config, retries=2)) as client:
        with pytest.raises(ServerError, match="answered 503") as caught:
            await run(client)
    assert caught.value.status == 503
    assert len(cloudflare.inference_requests()) == 3


async def test_a_stream_cut_mid_way_keeps_what_arrived_and_is_not_retried(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    cloudflare.add_fault(Fault(cut_after=6))  # f: and five text records
    received: list[Event] = []
    async with AsyncClient(rig_config) as client:
        with pytest.raises(StreamBroken, match="after 5 events") as caught:
            await drain(client, received)
    assert caught.value.delivered == 5
    assert text_of(received) == "".join(answer_text(_body(cloudflare))[:5])
    assert len(cloudflare.inference_requests()) == 1


async def test_malformed_records_are_skipped(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    cloudflare.add_fault(Fault(malformed=True))
    async with AsyncClient(rig_config) as client:
        events = await run(client)
    assert text_of(events) == EXPECTED
    assert events[-1] == FinishReason("stop")


async def test_an_error_record_raises_after_the_text_before_it(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    cloudflare.add_fault(Fault(error="model overloaded"))
    received: list[Event] = []
    async with AsyncClient(rig_config) as client:
        with pytest.raises(ProviderError, match="model overloaded"):
            await drain(client, received)
    assert text_of(received) == answer_text(_body(cloudflare))[0]  # the 3: came second
    assert len(cloudflare.inference_requests()) == 1


async def test_a_silent_server_times_out_before_and_breaks_after_the_first_event(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    config = with_client(rig_config, idle_timeout=0.5, retries=0)
    cloudflare.add_fault(Fault(stall_after=1, stall=3))  # silent before any text
    cloudflare.add_fault(Fault(stall_after=3, stall=3))  # silent after two texts
    async with AsyncClient(config) as client:
        with pytest.raises(StreamTimeout, match=r"no data .* for 0\.5s") as timeout:
            await run(client)
        with pytest.raises(StreamBroken, match="after 2 events") as broken:
            await run(client)
    assert timeout.value.phase == "idle"
    assert isinstance(broken.value.__cause__, StreamTimeout)


async def test_no_credential_says_which_command_makes_one(rig_config: Config) -> None:
    async with AsyncClient(rig_config) as client:
        with pytest.raises(NoCredential, match=r"run `harvest refresh cloudflare`"):
            await run(client)
        with pytest.raises(NoCredential, match=r"`harvest refresh cloudflare --profile p2`"):
            await run(client, profile="p2")


async def test_a_rejection_without_refresher_or_daemon_marks_it_stale_and_says_what_to_do(
    private_rig: Rig, chromium: str, tmp_path: Path
) -> None:
    config = fast(private_rig.config(tmp_path / "credentials.db", chromium))
    harvested = await Harvester(config).refresh("cloudflare")
    private_rig.cloudflare.invalidate()
    async with AsyncClient(config) as client:
        with pytest.raises(CredentialRejected, match="no harvest daemon is running") as caught:
            await run(client)
        after = await client.store.get("cloudflare", "default")
    assert caught.value.status == 403
    assert after is not None
    assert after.status == CredentialStatus.STALE
    assert after.harvested_at == harvested.harvested_at
    assert "refused the harvested credential (its answer says 'Just a moment')" in (
        after.last_error or ""
    )


def _body(cloudflare: CloudflareEmulator) -> dict[str, Any]:
    request = cloudflare.inference_requests()[-1]
    body: dict[str, Any] = request.json()
    return body


async def test_concurrent_streams_share_one_session(
    rig_config: Config, cloudflare_credential: Credential, cloudflare: CloudflareEmulator
) -> None:
    await stored(rig_config, cloudflare_credential)
    results: list[str] = []
    async with AsyncClient(rig_config) as client:

        async def one(n: int) -> None:
            events = await run(client, prompt=f"count to {n}")
            results.append(text_of(events))

        async with anyio.create_task_group() as group:
            for n in range(1, 21):
                group.start_soon(one, n)
        assert len(client._transport._sessions) == 1  # type: ignore[union-attr]
    assert sorted(results, key=len) == [
        "".join(f" {i}" for i in range(1, n + 1)) for n in range(1, 21)
    ]
