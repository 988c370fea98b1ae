"""The database file itself: permissions, WAL, refusing foreign or newer files."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from pathlib import Path

import pytest

from storage import SCHEMA_VERSION, CredentialStore, NotADatabase, SchemaTooNew

from .conftest import full_credential

pytestmark = pytest.mark.anyio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_new_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "credentials.db"
    async with CredentialStore.open(path) as store:
        await store.put(full_credential())
        assert _mode(path) == 0o600
        # The WAL and shared-memory files hold the same secrets: same mode.
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            assert side.exists()
            assert _mode(side) == 0o600, suffix
    assert _mode(path.parent) == 0o700
    assert _mode(path.parent.parent) == 0o700
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    async with CredentialStore.open(tmp_path / "credentials.db"):
        pass
    assert _mode(tmp_path) == 0o755


async def test_a_world_readable_database_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    async with CredentialStore.open(path):
        pass
    path.chmod(0o644)
    async with CredentialStore.open(path):
        pass
    assert _mode(path) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"not a database at all, just some text\n" * 10, bytes(range(256)) * 8],
    ids=["text", "binary"],
)
async def test_not_a_database_fails_clearly_and_changes_nothing(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "credentials.db"
    path.write_bytes(content)
    path.chmod(0o644)
    with pytest.raises(NotADatabase, match=r"credentials\.db is not a session-harvest database"):
        await CredentialStore.open(path)
    assert path.read_bytes() == content
    assert _mode(path) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.db"]


async def test_another_programs_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    before = _digest(path)
    with pytest.raises(NotADatabase):
        await CredentialStore.open(path)
    assert _digest(path) == before


async def test_newer_schema_fails_clearly_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    async with CredentialStore.open(path) as store:
        await store.put(full_credential())
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(path)
    with pytest.raises(SchemaTooNew, match=rf"schema version {SCHEMA_VERSION + 1}.*Upgrade"):
        await CredentialStore.open(path)
    assert _digest(path) == before


async def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    async with CredentialStore.open(path) as store:
        stored = await store.put(full_credential())
    async with CredentialStore.open(path) as store:
        assert await store.get("cloudflare", "default") == stored


async def test_an_unclosed_store_warns(tmp_path: Path) -> None:
    holder = [await CredentialStore.open(tmp_path / "credentials.db")]
    engine = holder[0]._engine
    with pytest.warns(ResourceWarning, match="was not closed"):
        holder.clear()  # drops the last reference
    await engine.close()
