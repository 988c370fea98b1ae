"""Bad locations and a failing disk: one typed, one-line error each, nothing touched.

The full and the read-only file system are real: the ``tiny_fs`` tmpfs (see ``_disk``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import pytest

from storage import (
    BadLocation,
    Credential,
    CredentialStore,
    NotADatabase,
    StorageError,
    StoreUnavailable,
)

from .._disk import fill

pytestmark = pytest.mark.anyio


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        pytest.param(lambda p: p.mkdir(), "it is a directory", id="a directory"),
        pytest.param(lambda p: os.mkfifo(p), "it is a FIFO", id="a FIFO"),
        pytest.param(
            lambda p: (p.parent / "loop").symlink_to("loop") or p.symlink_to(p.parent / "loop"),
            "symbolic links",
            id="a symlink loop",
        ),
    ],
)
async def test_a_path_that_cannot_be_a_database_is_refused(
    tmp_path: Path, make: object, said: str
) -> None:
    path = tmp_path / "credentials.db"
    make(path)  # type: ignore[operator]
    with pytest.raises(BadLocation, match=said) as refused:
        await CredentialStore.open(path)
    assert "\n" not in str(refused.value)
    assert "left unchanged" in str(refused.value)


async def test_dev_null_is_refused_and_keeps_its_mode() -> None:
    before = mode(Path("/dev/null"))
    try:
        with pytest.raises(BadLocation, match="character device"):
            await CredentialStore.open("/dev/null")
        assert mode(Path("/dev/null")) == before == 0o666
    finally:
        if mode(Path("/dev/null")) != 0o666:  # never leave the machine broken
            Path("/dev/null").chmod(0o666)


async def test_a_parent_that_is_a_file_and_a_name_too_long(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadLocation, match="not a directory"):
        await CredentialStore.open(tmp_path / "file" / "credentials.db")
    with pytest.raises(BadLocation, match="too long"):
        await CredentialStore.open(tmp_path / ("x" * 300))


async def test_a_foreign_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, but readable by all\n" * 10)
    path.chmod(0o644)
    with pytest.raises(NotADatabase):
        await CredentialStore.open(path)
    assert mode(path) == 0o644


async def test_a_damaged_database_says_so(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    async with CredentialStore.open(path) as store:
        await store.put(Credential("cloudflare", user_agent="UA"))
    data = bytearray(path.read_bytes())
    data[4096 + 0 : 4096 + 16] = b"\xff" * 16  # the first table page's header
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"damaged|malformed") as failed:
        async with CredentialStore.open(path) as store:
            await store.list()
    assert "\n" not in str(failed.value)


async def test_a_full_disk_is_a_clear_error_and_loses_nothing(tiny_fs: Path) -> None:
    path = tiny_fs / "credentials.db"
    async with CredentialStore.open(path) as store:
        first = await store.put(Credential("cloudflare", user_agent="UA-1"))
        filler = fill(tiny_fs)
        with pytest.raises(StoreUnavailable, match="disk is full"):
            await put_many(store)
        got = await store.get("cloudflare", "default")
        assert got is not None
        assert got.user_agent == first.user_agent
        filler.unlink()
        await store.put(Credential("cloudflare", "after", user_agent="UA-2"))
    # Full again: opening the good database says the disk is full, not "not a database".
    filler = fill(tiny_fs)
    try:
        await reopen(path)
    finally:
        filler.unlink()
    assert (await reopen(path)) is not None


async def reopen(path: Path) -> Credential | None:
    try:
        async with CredentialStore.open(path) as store:
            return await store.get("cloudflare", "default")
    except StoreUnavailable as exc:
        assert "disk is full" in str(exc)  # noqa: PT017 (the message is the point)
        return None


async def put_many(store: CredentialStore) -> None:
    for n in range(200):  # each a new row: new pages are needed sooner or later
        await store.put(Credential("cloudflare", f"p{n}", user_agent="x" * 2000))


async def test_a_read_only_file_system_is_not_called_a_bad_database(tiny_fs: Path) -> None:
    path = tiny_fs / "credentials.db"
    async with CredentialStore.open(path) as store:
        await store.put(Credential("cloudflare", user_agent="UA"))
    await anyio.run_process(["mount", "-o", "remount,ro", str(tiny_fs)])
    with pytest.raises(StoreUnavailable, match="read-only") as failed:
        async with CredentialStore.open(path) as store:
            await store.put(Credential("cloudflare", user_agent="UA-2"))
    assert "not a session-harvest database" not in str(failed.value)


@pytest.mark.anyio
async def test_check_notices_a_database_removed_or_replaced_in_use(tmp_path: Path) -> None:
    path = tmp_path / "credentials.db"
    async with CredentialStore.open(path) as store:
        await store.check()
        path.unlink()
        with pytest.raises(StoreUnavailable, match="removed or replaced while in use"):
            await store.check()
        async with CredentialStore.open(path):
            pass  # another process makes a new database at the same path
        with pytest.raises(StoreUnavailable, match="removed or replaced while in use"):
            await store.check()
