"""A fleet: two ``harvest daemon`` processes, with homes of their own, on one PostgreSQL
store. Each (provider, profile) is kept by exactly one of them at a time (keeper
leases); when one is SIGKILLed the other takes its keepers over; a client's refresh
request is served by whichever keeps that profile."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from storage import CredentialStore

from .._postgres import PostgresCluster
from ._daemon_rig import ROOT, environment, eventually, start, wait_exit, write_config
from ._site import Site
from .test_daemon import BUILT_IN_OFF, daemon_chromium

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

PROFILES = ("a", "b", "c", "d")
FLEET = (
    f"[providers.site]\nprofiles = {list(PROFILES)!r}\n".replace("'", '"')
    + "[providers.never]\nenabled = false\n"
    + BUILT_IN_OFF
    + '[harvester]\nkeeper_ttl = "3s"\npoll_interval = "0.3s"\n'
)


async def keepers(url: str) -> dict[str, int]:
    """Which daemon (pid) keeps each profile now."""
    async with CredentialStore.open(url) as store:
        rows = await store._run("SELECT profile, holder FROM keepers WHERE provider = 'site'")
    return {profile: int(holder.split(":")[1]) for profile, holder in rows}


async def attempts(url: str) -> Counter[str]:
    async with CredentialStore.open(url) as store:
        history = await store.recent_attempts("site", limit=1000)
    return Counter(a.profile for a in history)


async def test_two_daemons_keep_each_profile_once_and_one_takes_over_from_a_dead_one(
    site: Site, tmp_path: Path, chromium: str, postgres: PostgresCluster
) -> None:
    url = await anyio.to_thread.run_sync(postgres.create_database, "fleet")
    env = environment(site.base, HARVEST_DB=url)
    daemons = []
    for name in ("one", "two"):
        home = tmp_path / name
        home.mkdir()
        config = write_config(home / "c.toml", home / "unused.db", chromium, FLEET)
        daemon, _out, err = await start(["--config", str(config), "daemon"], env, home / "d")
        daemons.append((daemon, err))
    try:
        pids = {d.pid for d, _ in daemons}
        # Every profile harvested, each exactly once, by whichever daemon keeps it.
        await eventually(
            lambda: _when(attempts(url), lambda seen: set(seen) == set(PROFILES)),
            within=120,
            what="every profile harvested",
        )
        kept = await keepers(url)
        assert set(kept) == set(PROFILES)
        assert set(kept.values()) <= pids
        await anyio.sleep(4)  # more than a keeper lease: nobody harvests again
        assert await attempts(url) == Counter(dict.fromkeys(PROFILES, 1))

        # SIGKILL the daemon that keeps "a": the other takes every profile over.
        victim = next(d for d, _ in daemons if d.pid == kept["a"])
        survivor, survivor_err = next((d, e) for d, e in daemons if d is not victim)
        victim.send_signal(signal.SIGKILL)
        await wait_exit(victim)
        await eventually(
            lambda: _when(keepers(url), lambda now: set(now.values()) == {survivor.pid}),
            within=15,
            what="the survivor keeping every profile",
        )
        await eventually(
            lambda: _async(not daemon_chromium(victim.pid)), within=15, what="no Chromium"
        )

        # A client's refresh request reaches the daemon that keeps the profile now.
        async with CredentialStore.open(url) as store:
            before = await store.get("site", "a")
            assert before is not None
            assert await store.running_daemon() == survivor.pid
            await store.request_refresh("site", "a", "refused", newer_than=before.harvested_at)

            async def renewed() -> bool:
                current = await store.get("site", "a")
                return current is not None and current.harvested_at > before.harvested_at

            await eventually(renewed, within=60, what="the survivor's harvest")
        assert (await attempts(url))["a"] == 2
        log = survivor_err.read_text()
        assert "kept by another daemon of the fleet" in log, log
        assert "taken over from another daemon" in log, log
        status = await anyio.run_process(
            [sys.executable, "-m", "tests.harvester._cli_main", "status"],
            env=env,
            cwd=ROOT,
            check=False,
        )
        shown = status.stdout.decode() + status.stderr.decode()
        assert status.returncode == 0, shown
        assert any(line.split()[:2] == ["site", "a"] for line in shown.splitlines()), shown
        logs = shown + "".join(e.read_text() for _, e in daemons)
        assert postgres.password not in logs  # in no log, no status line
    finally:
        for daemon, _ in daemons:
            if daemon.returncode is None:
                daemon.send_signal(signal.SIGTERM)
                await wait_exit(daemon, within=30)


async def _when(value: object, test: object) -> object:
    got = await value  # type: ignore[misc]
    return test(got)  # type: ignore[operator]


async def _async(value: object) -> object:
    return value
