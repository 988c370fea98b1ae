"""Fixtures shared by the whole suite."""

from __future__ import annotations

import atexit
import dataclasses
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from blockbuster import BlockBuster, blockbuster_ctx

from client import ClientConfig, Config
from harvester import Harvester
from harvester._browser import CHROMIUM_NAMES
from storage import Credential, CredentialStore

from ._disk import mounted_tmpfs
from ._postgres import PostgresCluster, PostgresMissing
from .emulators.cloudflare import CloudflareEmulator
from .emulators.flowgpt import FlowGPTEmulator
from .emulators.freenetfly import FreeNetflyEmulator
from .emulators.g4f_space import G4FSpaceEmulator
from .emulators.rig import Rig
from .harvester._procs import RUN_MARKER, chromium_processes

# The run's own temporary directory: every Chromium profile this run makes (through
# harvesters here or in subprocesses, which inherit TMPDIR) is in it, so the leftover
# check counts only this run's browsers.
_RUN_DIR = tempfile.mkdtemp(prefix="session-harvest-run-")
atexit.register(shutil.rmtree, _RUN_DIR, ignore_errors=True)
os.environ["TMPDIR"] = os.environ[RUN_MARKER] = _RUN_DIR
tempfile.tempdir = None  # gettempdir() reads TMPDIR again
# Caches (the merged CA file) in the run's directory too, not in the user's home.
os.environ["XDG_CACHE_HOME"] = os.path.join(_RUN_DIR, "cache")


@pytest.fixture
def anyio_backend() -> str:
    # aiosqlite and curl_cffi's async session are built on asyncio.
    return "asyncio"


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test in which our own code blocks the event loop (anyio's tripwire)."""
    with blockbuster_ctx(["storage", "client", "harvester"]) as bb:
        # asyncpg looks for its client files (~/.postgresql/*, .pgpass) when it opens a
        # connection: a few stat calls once per pooled connection, not per statement.
        for function in bb.functions.values():
            function.can_block_in("asyncpg/connect_utils.py", {"_parse_connect_dsn_and_args"})
        yield bb


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable. Missing: a skip on a developer's machine, a failure in CI."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    message = "no Chromium on PATH; `make install` installs Debian's chromium package"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (under CI a missing browser is a failure, never a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster for the session. Missing PostgreSQL: a skip on a
    developer's machine, a failure in CI."""
    try:
        cluster = PostgresCluster().start()
    except PostgresMissing as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (under CI a missing PostgreSQL is a failure, never a skip)")
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A store's place, once per engine: an SQLite file (in a directory still to be
    made), or a PostgreSQL database of its own on the session's cluster."""
    if request.param == "sqlite":
        return tmp_path / "state" / "credentials.db"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database("t_" + secrets.token_hex(6))


@pytest.fixture(autouse=True)
def no_chromium_left_behind() -> Iterator[None]:
    """Every test must end with no Chromium of its own running (other runs' and other
    tools' browsers on the machine are not counted)."""
    before = set(chromium_processes())
    yield
    # Killed processes take the kernel a moment to tear down: allow a grace period.
    deadline = time.monotonic() + 10
    while (left := set(chromium_processes()) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"Chromium processes left behind: {sorted(left)}"


# -- the provider emulators behind the CONNECT proxy -------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of the test's own, for full and read-only disk faults (root only)."""
    yield from mounted_tmpfs(tmp_path / "fs")


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """Every emulator on TLS behind the CONNECT proxy, for the whole session."""
    started = Rig(tmp_path_factory.mktemp("rig")).start()
    yield started
    started.stop()


@pytest.fixture
def private_rig(tmp_path: Path) -> Iterator[Rig]:
    """A rig of the test's own, for tests that revoke what the emulators issued."""
    started = Rig(tmp_path / "rig").start()
    yield started
    started.stop()


@pytest.fixture
def cloudflare(rig: Rig) -> Iterator[CloudflareEmulator]:
    """The shared Cloudflare emulator, its faults and records cleared after the test."""
    yield rig.cloudflare
    rig.cloudflare.reset()


@pytest.fixture
def flowgpt(rig: Rig) -> Iterator[FlowGPTEmulator]:
    yield rig.flowgpt
    rig.flowgpt.reset()


@pytest.fixture
def freenetfly(rig: Rig) -> Iterator[FreeNetflyEmulator]:
    yield rig.freenetfly
    rig.freenetfly.reset()


@pytest.fixture
def g4f(rig: Rig) -> Iterator[G4FSpaceEmulator]:
    yield rig.g4f_space
    rig.g4f_space.reset()


@pytest.fixture(scope="session")
def harvested(
    rig: Rig, chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Credential]:
    """FlowGPT, FreeNetfly and G4F space credentials harvested once (one browser) for
    the session. Tests that revoke what the emulators issued use ``private_rig``."""
    database = tmp_path_factory.mktemp("harvest") / "credentials.db"

    async def harvest() -> dict[str, Credential]:
        async with Harvester(rig.config(database, chromium)) as harvester:
            return {
                name: await harvester.refresh(name)
                for name in ("flowgpt", "freenetfly", "g4f_space")
            }

    return anyio.run(harvest)


@pytest.fixture
async def stored(rig_config: Config, harvested: dict[str, Credential]) -> Config:
    """``rig_config`` with the session's harvested credentials in its database."""
    async with CredentialStore.open(rig_config.database) as store:
        for credential in harvested.values():
            await store.put(credential)
    return rig_config


@pytest.fixture(scope="session")
def cloudflare_credential(
    rig: Rig, chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Credential:
    """One credential harvested by real Chromium from the emulator, for the session.

    Tests that revoke clearances use ``private_rig`` instead, so this one stays valid.
    """
    database = tmp_path_factory.mktemp("harvest") / "credentials.db"
    config = rig.config(database, chromium)
    return anyio.run(Harvester(config).refresh, "cloudflare")


@pytest.fixture
def rig_config(rig: Rig, chromium: str, tmp_path: Path) -> Config:
    """A config for the shared rig with a fresh database and quick retries."""
    return fast(rig.config(tmp_path / "credentials.db", chromium))


def fast(config: Config) -> Config:
    """``config`` with retry delays and timeouts short enough for tests."""
    client = ClientConfig(
        connect_timeout=5.0,
        first_byte_timeout=10.0,
        idle_timeout=10.0,
        retries=2,
        retry_backoff=0.01,
        retry_backoff_max=0.05,
        refresh_timeout=60.0,
    )
    return dataclasses.replace(config, client=client)
