"""The daemon against faults: a full disk does not stop it, and a SIGKILLed daemon
blocks neither its successor nor a client (its leases and claims die with it).

The times printed are measurements for the record; the bounds asserted are far above
them and far below the old behaviour (a dead daemon's lease held for 180 s).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import anyio
import pytest

from storage import CredentialStore

from .._disk import fill
from ._daemon_rig import environment, eventually, start, wait_exit, write_config
from ._site import Site
from .test_daemon import BUILT_IN_OFF, _async, attempts, daemon_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.anyio]


async def test_a_full_disk_is_logged_retried_and_survived(
    site: Site, tiny_fs: Path, tmp_path: Path, chromium: str
) -> None:
    database = tiny_fs / "c.db"
    config = write_config(
        tmp_path / "c.toml",
        database,
        chromium,
        '[harvester]\npoll_interval = 0.2\nbackoff = "0.5s"\n'
        f'[providers.site]\nrefresh_before_expiry = "1s"\n[providers.never]\nenabled = false\n'
        f"{BUILT_IN_OFF}",
    )
    env = environment(site.base, TEST_SITE_LIFETIME="2")
    daemon, _out, err = await start(["--config", str(config), "daemon"], env, tmp_path / "d")
    try:
        await eventually(lambda: attempts(database, "site", ok=True), what="a first harvest")
        filler = fill(tiny_fs)
        await eventually(
            lambda: _async("disk is full" in err.read_text()), what="the full disk logged"
        )
        await anyio.sleep(3)  # harvests keep coming due: each fails to store, and is retried
        assert daemon.returncode is None, err.read_text()
        filler.unlink()
        freed = time.time()

        async def stored_again() -> bool:
            async with CredentialStore.open(database) as store:
                credential = await store.get("site", "default")
            return credential is not None and credential.harvested_at > freed

        await eventually(stored_again, what="a harvest stored once the disk has room")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon, within=30) == 0, err.read_text()
    assert "Traceback" not in err.read_text()  # each fault one log line, not a dump


async def test_a_killed_daemon_blocks_neither_its_successor_nor_a_client(
    site: Site, tmp_path: Path, chromium: str, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "c.db"
    config = write_config(
        tmp_path / "c.toml",
        database,
        chromium,
        f"[harvester]\npoll_interval = 0.2\n[providers.site]\nenabled = false\n{BUILT_IN_OFF}",
    )
    # The first daemon is stuck in a minute-long harvest of `never`, holding its lease.
    stuck = environment(site.base, TEST_NEVER_TIMEOUT="60")
    first, _out, _err = await start(["--config", str(config), "daemon"], stuck, tmp_path / "d1")
    await eventually(lambda: _async(daemon_chromium(first.pid)), what="a browser at work")
    await eventually(lambda: leased(database), what="the lease taken")
    async with CredentialStore.open(database) as store:
        request = await store.request_refresh("never", "default", reason="test")
    await eventually(lambda: claimed(database), what="the request claimed")
    first.send_signal(signal.SIGKILL)
    await wait_exit(first)
    killed = time.time()

    # A client-side harvest (`harvest refresh`) goes ahead at once instead of waiting.
    quick = environment(site.base, TEST_NEVER_TIMEOUT="1")
    refresh, out, refresh_err = await start(
        ["--config", str(config), "refresh", "never"], quick, tmp_path / "r"
    )
    assert await wait_exit(refresh, within=60) == 1
    client_waited = time.time() - killed
    assert "still waiting for the title" in out.read_text(), refresh_err.read_text()
    assert "another process is harvesting" not in refresh_err.read_text()

    # The next daemon serves the dead one's claimed request at once.
    started = time.time()
    second, _out2, err2 = await start(["--config", str(config), "daemon"], quick, tmp_path / "d2")
    try:

        async def served() -> bool:
            async with CredentialStore.open(database) as store:
                return request.id not in {r.id for r in await store.pending_refreshes()}

        await eventually(served, within=60, what="the claimed request served")
        successor = time.time() - started
    finally:
        second.send_signal(signal.SIGTERM)
        assert await wait_exit(second, within=30) == 0, err2.read_text()
    with capsys.disabled():
        print(
            f"\n  after SIGKILL: a client harvested after {client_waited:.1f}s, the next daemon "
            f"served the dead one's claimed request {successor:.1f}s after it started"
        )
    assert client_waited < 60
    assert successor < 60


async def leased(database: Path) -> bool:
    async with CredentialStore.open(database) as store:
        return await store.holder("never", "default") is not None


async def claimed(database: Path) -> bool:
    async with CredentialStore.open(database) as store:
        return any(r.taken_by for r in await store.pending_refreshes())
