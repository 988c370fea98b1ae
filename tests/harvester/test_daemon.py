"""The daemon as a real subprocess: schedule, requests, backoff, signals, no leftovers."""

from __future__ import annotations

import itertools
import re
import signal
import tempfile
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from client.providers import provider_names
from storage import Attempt, CredentialStore

from ._daemon_rig import environment, eventually, start, wait_exit, write_config
from ._procs import PROFILE_PREFIX, chromium_processes
from ._site import Site

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.anyio]


def daemon_chromium(pid: int) -> list[int]:
    """Chromium processes launched by the harvester process ``pid``."""
    return [p for p in chromium_processes() if _profile_of(p).startswith(f"{PROFILE_PREFIX}{pid}-")]


def _profile_of(pid: int) -> str:
    # Chromium's helpers rewrite their command line into one space-separated string.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
    match = re.search(r"--user-data-dir=(\S+)", cmdline)
    return Path(match.group(1)).name if match else ""


async def attempts(database: Path, provider: str, ok: bool | None = None) -> list[Attempt]:
    if not database.exists():
        return []
    async with CredentialStore.open(database) as store:
        found = await store.recent_attempts(provider, "default")
    found = sorted(found, key=lambda a: a.started)
    return [a for a in found if ok is None or a.ok == ok]


async def test_daemon_refreshes_each_credential_before_it_expires(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    database = tmp_path / "c.db"
    config = write_config(
        tmp_path / "c.toml",
        database,
        chromium,
        "[harvester]\npoll_interval = 0.2\n"
        '[providers.site]\nrefresh_before_expiry = "3s"\n'
        "[providers.never]\nenabled = false\n",
    )
    env = environment(site.base, TEST_SITE_LIFETIME="6")
    daemon, _out, err = await start(["--config", str(config), "daemon"], env, tmp_path / "d")
    try:
        await eventually(lambda: attempts(database, "site", ok=True), what="a first harvest")
        async with CredentialStore.open(database) as store:
            first = await store.get("site", "default")
        assert first is not None
        assert first.expires_at is not None
        ok = await eventually(
            lambda: at_least(2, database, "site", ok=True), what="a second harvest"
        )
        # Due 3 s before expiry, jittered by +-10 % and never later than 1.5 s before.
        assert first.expires_at - 3.5 <= ok[1].started < first.expires_at
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon) == 0, err.read_text()
    log = err.read_text()
    assert "daemon started" in log
    assert log.count("harvested site/default") >= 2
    assert not daemon_chromium(daemon.pid)


async def at_least(count: int, database: Path, provider: str, ok: bool) -> list[Attempt]:
    """The attempts once there are ``count`` of them, else an empty list."""
    found = await attempts(database, provider, ok)
    return found if len(found) >= count else []


async def test_daemon_serves_requests_refuses_a_twin_and_stops_on_sigterm(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    database = tmp_path / "c.db"
    config = write_config(
        tmp_path / "c.toml",
        database,
        chromium,
        "[harvester]\npoll_interval = 0.2\n[providers.never]\nenabled = false\n",
    )
    env = environment(site.base)
    daemon, _out, err = await start(["--config", str(config), "daemon"], env, tmp_path / "d")
    try:
        await eventually(lambda: attempts(database, "site", ok=True), what="a first harvest")

        twin, _twin_out, twin_err = await start(
            ["--config", str(config), "daemon"], env, tmp_path / "twin"
        )
        assert await wait_exit(twin) == 1
        assert f"another harvest daemon (pid {daemon.pid}) is already running" in (
            twin_err.read_text()
        )

        async with CredentialStore.open(database) as store:
            before = await store.get("site", "default")
            assert before is not None
            await store.request_refresh("site", "default", reason="test")

            async def served() -> bool:
                now = await store.get("site", "default")
                assert now is not None
                pending = await store.pending_refreshes()
                return now.generation > before.generation and not pending

            await eventually(served, what="the refresh request served")
        assert daemon.returncode is None
        assert daemon_chromium(daemon.pid), "the daemon keeps its browser warm"
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon, within=30) == 0, err.read_text()
    assert not daemon_chromium(daemon.pid)
    assert "refresh requested (test)" in err.read_text()


async def test_daemon_backs_off_after_failures(site: Site, tmp_path: Path, chromium: str) -> None:
    database = tmp_path / "c.db"
    config = write_config(
        tmp_path / "c.toml",
        database,
        chromium,
        '[harvester]\nbackoff = "0.5s"\n[providers.site]\nenabled = false\n',
    )
    env = environment(site.base, TEST_NEVER_TIMEOUT="0.5")
    daemon, _out, err = await start(["--config", str(config), "daemon"], env, tmp_path / "d")
    try:
        failed = await eventually(
            lambda: at_least(4, database, "never", ok=False), what="four failures"
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon, within=30) == 0, err.read_text()
    # The pause after the n-th failure is at least 0.5 s * 2^(n-1), less the jitter.
    for n, (earlier, later) in enumerate(itertools.pairwise(failed)):
        pause = later.started - (earlier.started + earlier.duration)
        assert pause >= 0.5 * 2**n * 0.9 - 0.05, (n, pause)
    assert all("still waiting for the title" in (a.error or "") for a in failed)


# Every provider but ``never`` off: a harvest starts only once a slot is free, so the
# others must not take the slots first.
BUILT_IN_OFF = "".join(f"[providers.{name}]\nenabled = false\n" for name in provider_names())
ONLY_NEVER = "[providers.site]\nenabled = false\n" + BUILT_IN_OFF


async def start_stuck_daemon(
    site: Site, tmp_path: Path, chromium: str, name: str = "d"
) -> tuple[Process, Path]:
    """A daemon whose only provider (``never``) keeps a browser waiting for a minute."""
    config = write_config(tmp_path / "c.toml", tmp_path / "c.db", chromium, ONLY_NEVER)
    env = environment(site.base, TEST_NEVER_TIMEOUT="60")
    daemon, _out, err = await start(["--config", str(config), "daemon"], env, tmp_path / name)
    return daemon, err


async def test_sigterm_mid_harvest_cancels_it_and_leaves_no_chromium(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    daemon, err = await start_stuck_daemon(site, tmp_path, chromium)
    await eventually(lambda: _async(daemon_chromium(daemon.pid)), what="a browser at work")
    await anyio.sleep(1)  # into the page's wait
    daemon.send_signal(signal.SIGTERM)
    assert await wait_exit(daemon, within=30) == 0, err.read_text()
    assert not daemon_chromium(daemon.pid)
    (cancelled,) = await attempts(tmp_path / "c.db", "never")
    assert not cancelled.ok
    assert cancelled.error == "never/default: cancelled"


async def test_sigkill_of_the_daemon_leaves_no_chromium(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    daemon, _err = await start_stuck_daemon(site, tmp_path, chromium)
    try:
        # The browser and its helpers (zygotes, network service, renderer) are up.
        await eventually(
            lambda: _async(len(daemon_chromium(daemon.pid)) >= 4), what="a browser at work"
        )
    finally:
        daemon.send_signal(signal.SIGKILL)
        await wait_exit(daemon)
    await eventually(lambda: _async(not daemon_chromium(daemon.pid)), within=15, what="no Chromium")

    # The lock died with it: a new daemon starts at once.
    second, err = await start_stuck_daemon(site, tmp_path, chromium, "d2")
    await eventually(lambda: _async("daemon started" in err.read_text()), what="a new daemon")
    await eventually(lambda: _async(daemon_chromium(second.pid)), what="its browser")
    second.send_signal(signal.SIGTERM)
    assert await wait_exit(second, within=30) == 0
    # Its browser's launch swept what the killed one left: profile and Chromium's
    # temporary directory, where Chromium put its org.chromium.* files.
    temp = Path(tempfile.gettempdir())
    assert not list(temp.glob(f"*-{daemon.pid}-*"))
    assert not list(temp.glob("org.chromium.Chromium.*"))


async def _async(value: object) -> object:
    return value
