"""``harvest migrate SOURCE DEST``: every credential and its history from SQLite to
PostgreSQL and back, sealed stores included, and nothing twice."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from storage import Attempt, CredentialStore, copy_store

from .._postgres import PostgresCluster
from .conftest import START, full_credential

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


async def test_a_sealed_sqlite_store_goes_to_postgresql_and_back_once(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    source, back = tmp_path / "source.db", tmp_path / "back.db"
    url = await anyio.to_thread.run_sync(postgres.create_database, "t_" + secrets.token_hex(6))
    async with CredentialStore.open(source, key="key-one") as store:
        for provider in ("cloudflare", "flowgpt"):
            await store.put(full_credential(provider))
            for n in range(3):
                await store.record_attempt(
                    Attempt(provider, "default", START + n, 1.5, ok=n != 1, error=None)
                )
    async with (
        CredentialStore.open(source, key="key-one") as one,
        CredentialStore.open(url, key="key-two") as two,
    ):
        first = await copy_store(one, two)
        again = await copy_store(one, two)
        copied = await two.list()
        history = await two.recent_attempts("flowgpt", "default")
        raw = await two._run("SELECT body FROM credentials")
    assert (first.credentials, first.kept, first.attempts) == (2, 0, 6)
    assert (again.credentials, again.kept, again.attempts) == (0, 2, 0)
    assert [c.provider for c in copied] == ["cloudflare", "flowgpt"]
    assert copied[0].cookies == full_credential().cookies
    assert [a.started for a in history] == [START + 2, START + 1, START]  # in order
    assert all(str(body).startswith("sealed:v1:") for (body,) in raw)  # sealed anew
    async with (
        CredentialStore.open(url, key="key-two") as two,
        CredentialStore.open(back, key="key-one") as three,
    ):
        home = await copy_store(two, three)
        round_trip = await three.get("cloudflare", "default")
    assert home.credentials == 2
    assert round_trip is not None
    assert round_trip.tokens == full_credential().tokens


def migrate(
    source: Path, destination: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harvester", "migrate", str(source), str(destination)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_takes_keys_from_the_environment_only(tmp_path: Path) -> None:
    source, destination = tmp_path / "a.db", tmp_path / "b.db"

    async def seed() -> None:
        async with CredentialStore.open(source, key="src-SECRET-1") as store:
            await store.put(full_credential())

    anyio.run(seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARVEST_")}
    env |= {"HARVEST_SOURCE_KEY": "src-SECRET-1", "HARVEST_DEST_KEY": "dst-SECRET-2"}
    done = migrate(source, destination, env)
    assert done.returncode == 0, done.stderr
    assert "copied   cloudflare/default" in done.stdout
    assert f"1 credential(s) copied, 0 kept, 0 attempt(s) copied into {destination}" in done.stdout
    assert "SECRET" not in done.stdout + done.stderr
    # The destination is sealed with its own key.
    env["HARVEST_SOURCE_KEY"] = "wrong-SECRET-3"
    again = migrate(destination, source, env)
    assert again.returncode == 1
    assert "does not open this store" in again.stderr
    assert "SECRET" not in again.stderr
