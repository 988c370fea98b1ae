"""Harvests against the local protected site, with a real Chromium."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess

import anyio
import pytest

from client import Config, HarvesterConfig, HarvestRecipe, UnknownProvider
from harvester import BrowserFailed, BrowserNotFound, Harvester, HarvestTimeout, PageError
from storage import Credential, CredentialStore

from ._procs import chromium_processes
from ._site import APP_VERSION, CLEARANCE_MAX_AGE, SID_MAX_AGE, Site

pytestmark = [pytest.mark.browser, pytest.mark.anyio]


def chromium_version(executable: str) -> str:
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


async def test_harvest_passes_the_interstitial_and_keeps_everything(
    site: Site, config: Config, chromium: str
) -> None:
    pings_before = len(site.state.pings)
    async with Harvester(config, recipes=site.recipes()) as harvester:
        credential = await harvester.refresh("site")
    assert credential.generation == 1

    # The exact browser, presenting as non-headless Chrome of that version.
    version = chromium_version(chromium)
    major = version.split(".")[0]
    assert credential.browser_version == version
    assert credential.browser_name == "Chromium"
    assert "HeadlessChrome" not in credential.user_agent
    assert f"Chrome/{major}." in credential.user_agent

    # The headers the page's API call carried, exactly as the server received them.
    ping = site.state.pings[pings_before]
    received = {k.lower(): v for k, v in ping.headers}
    headers = dict(credential.headers)
    assert len(headers) == len(credential.headers), "a header name appears twice"
    dropped = {"host", "cookie", "content-length", "connection"}
    assert headers == {k: v for k, v in received.items() if k not in dropped}
    assert headers["x-app-version"] == APP_VERSION
    assert headers["user-agent"] == credential.user_agent
    # In Chromium's order for a fetch: page-set headers before the user agent.
    names = [name for name, _ in credential.headers]
    assert names.index("sec-ch-ua-platform") < names.index("x-app-version")
    assert names.index("x-app-version") < names.index("user-agent") < names.index("accept")

    # The client hints agree with the user agent, in headers and in navigator.
    assert f'"Chromium";v="{major}"' in headers["sec-ch-ua"]
    assert headers["sec-ch-ua-platform"] == '"Linux"'
    assert ping.body["userAgent"] == credential.user_agent
    assert {"brand": "Chromium", "version": major} in ping.body["brands"]
    assert {"brand": "Chromium", "version": version} in ping.body["fullVersionList"]

    # Cookies with their attributes, HttpOnly included.
    cookies = {c.name: c for c in credential.cookies}
    assert set(cookies) == {"clearance", "sid"}
    sid, clearance = cookies["sid"], cookies["clearance"]
    assert sid.value in site.state.sids
    assert sid.http_only
    assert sid.same_site == "Lax"
    assert sid.domain == "127.0.0.1"
    assert sid.host_only
    assert sid.path == "/"
    assert sid.expires == pytest.approx(credential.harvested_at + SID_MAX_AGE, abs=30)
    assert not clearance.http_only
    assert clearance.value == site.state.clearance_for(credential.user_agent)

    # Tokens, expiry (the clearance cookie ends it before the recipe's hour) and target.
    assert credential.tokens == {
        "app_token": f"tok-{sid.value[:8]}",
        "session_uuid": f"uuid-{sid.value[-8:]}",
    }
    assert credential.expires_at == clearance.expires
    assert credential.expires_at == pytest.approx(
        credential.harvested_at + CLEARANCE_MAX_AGE, abs=30
    )
    assert credential.impersonate == expected_target(int(major))

    async with CredentialStore.open(config.database) as store:
        assert await store.get("site", "default") == credential
        (attempt,) = await store.recent_attempts("site", "default")
    assert attempt.ok
    assert attempt.error is None


def expected_target(major: int) -> str:
    from curl_cffi.requests import BrowserType

    plain = [int(m.group(1)) for b in BrowserType if (m := re.fullmatch(r"chrome(\d+)", b.value))]
    return f"chrome{max(n for n in plain if n <= major)}"


async def test_parallel_harvests_in_one_browser_keep_their_cookies_apart(
    site: Site, config: Config
) -> None:
    results: dict[str, Credential] = {}
    async with Harvester(config, recipes=site.recipes()) as harvester:

        async def one(profile: str) -> None:
            results[profile] = await harvester.refresh("site", profile)

        async with anyio.create_task_group() as group:
            for profile in ("a", "b"):
                group.start_soon(one, profile)
        assert harvester.browser_launches == 1
    sid = {p: {c.name: c.value for c in cred.cookies}["sid"] for p, cred in results.items()}
    assert sid["a"] != sid["b"]
    assert {sid["a"], sid["b"]} <= site.state.sids
    for profile, credential in results.items():
        assert len(credential.cookies) == 2
        assert credential.tokens["app_token"] == f"tok-{sid[profile][:8]}"


async def test_callers_in_one_process_share_one_harvest(site: Site, config: Config) -> None:
    results: list[Credential] = []
    async with Harvester(config, recipes=site.recipes()) as harvester:

        async def one() -> None:
            results.append(await harvester.refresh("site"))

        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(one)
        attempts = await harvester.store.recent_attempts("site", "default")
    assert len(attempts) == 1
    assert [c.generation for c in results] == [1, 1, 1]


async def test_a_site_that_never_passes_times_out_and_keeps_the_old_credential(
    site: Site, config: Config
) -> None:
    old = Credential(provider="never", user_agent="old", harvested_at=1.0)
    async with CredentialStore.open(config.database) as store:
        old = await store.put(old)
    async with Harvester(config, recipes=site.recipes(timeout=3)) as harvester:
        with pytest.raises(HarvestTimeout) as caught:
            await harvester.refresh("never")
        assert await harvester.store.get("never", "default") == old
        (attempt,) = await harvester.store.recent_attempts("never", "default")
    message = str(caught.value)
    assert message.startswith("never/default: ")
    assert "the title 'Just a moment' to go (it is 'Just a moment...')" in message
    assert not attempt.ok
    assert attempt.error == message


@pytest.mark.parametrize("after", [0.0, 0.02, 0.1, 1.0])
async def test_a_killed_browser_fails_the_harvest_and_the_next_one_uses_a_new_browser(
    site: Site, config: Config, after: float
) -> None:
    # Killed at any moment (opening the page's connection, mid-command, mid-wait), the
    # harvest says the browser exited: never the websocket library's own error.
    async with Harvester(config, recipes=site.recipes(timeout=60)) as harvester:
        first = await harvester.refresh("site")
        pool = harvester._pool
        assert pool is not None
        browser = pool._current
        assert browser is not None

        async def kill_soon() -> None:
            # Once the harvest holds the browser: killed before, it is merely replaced
            # (the pool checks that its browser lives), which is not this test's case.
            while not pool._users.get(browser):  # noqa: ASYNC110 - a test's probe
                await anyio.sleep(0.001)
            await anyio.sleep(after)
            os.kill(browser.pid, signal.SIGKILL)

        async with anyio.create_task_group() as group:
            group.start_soon(kill_soon)
            with pytest.raises(BrowserFailed, match=r"Chromium.* exited"):
                await harvester.refresh("never")
        assert await harvester.store.get("site", "default") == first
        (failed,) = await harvester.store.recent_attempts("never", "default")
        assert not failed.ok
        second = await harvester.refresh("site")
        assert harvester.browser_launches == 2
        assert pool._current is not None
        assert pool._current.pid != browser.pid
    assert second.generation == first.generation + 1
    assert not list(chromium_processes(browser.profile))


async def test_the_browser_is_replaced_after_its_quota(site: Site, config: Config) -> None:
    config = dataclasses.replace(config, harvester=HarvesterConfig(restart_after=1))
    async with Harvester(config, recipes=site.recipes()) as harvester:
        await harvester.refresh("site", "a")
        pool = harvester._pool
        assert pool is not None
        assert pool._current is not None
        first = pool._current
        await harvester.refresh("site", "b")
        assert harvester.browser_launches == 2
        assert not list(chromium_processes(first.profile))
        assert not first.profile.exists()


async def test_close_leaves_no_process_and_no_profile(site: Site, config: Config) -> None:
    async with Harvester(config, recipes=site.recipes()) as harvester:
        await harvester.refresh("site")
        pool = harvester._pool
        assert pool is not None
        browser = pool._current
        assert browser is not None
        assert len(list(chromium_processes(browser.profile))) >= 2  # browser and helpers
    assert not list(chromium_processes(browser.profile))
    assert not browser.profile.exists()


async def test_one_shot_refresh_without_entering(site: Site, config: Config) -> None:
    credential = await Harvester(config, recipes=site.recipes()).refresh("site")
    assert {c.name for c in credential.cookies} == {"clearance", "sid"}


async def test_a_page_that_cannot_load_is_a_page_error(config: Config) -> None:
    # A port nobody listens on: bind one and close it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recipes = {"closed": HarvestRecipe(start_url=f"http://127.0.0.1:{port}/", timeout=10)}
    with pytest.raises(PageError, match=r"could not open .*ERR_CONNECTION_REFUSED"):
        await Harvester(config, recipes=recipes).refresh("closed")


async def test_unknown_provider_lists_the_valid_ones(site: Site, config: Config) -> None:
    with pytest.raises(UnknownProvider, match="valid providers: never, site"):
        await Harvester(config, recipes=site.recipes()).refresh("nope")


async def test_a_missing_browser_says_how_to_install_one(site: Site, config: Config) -> None:
    config = dataclasses.replace(
        config, browser=dataclasses.replace(config.browser, executable=config.database)
    )
    with pytest.raises(BrowserNotFound, match="not an executable file"):
        await Harvester(config, recipes=site.recipes()).refresh("site")
