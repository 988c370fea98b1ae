"""Secrets at rest, on both engines: with a key, no cookie value, token or page header
is in the database in the clear; the wrong key, or none, is refused at open with a
clear error (never garbage); a plain store given a key keeps its old rows readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import CredentialStore, StoreKeyError

from .conftest import FakeClock, full_credential

pytestmark = pytest.mark.anyio

KEY = "store-key-SECRET-0f3a"


async def raw_bodies(store: CredentialStore) -> str:
    rows = await store._run("SELECT body FROM credentials")
    return "\n".join(str(row[0]) for row in rows)


async def test_sealed_bodies_hold_no_secret_and_open_with_the_key(
    database: str | Path, clock: FakeClock
) -> None:
    credential = full_credential()
    async with CredentialStore.open(database, clock=clock, key=KEY) as store:
        stored = await store.put(credential)
        assert await store.merge_cookies(
            "cloudflare", "default", [], harvested_at=stored.harvested_at
        )
        raw = await raw_bodies(store)
        assert KEY not in repr(store)
    assert raw.startswith("sealed:v1:")
    for cookie in credential.cookies:
        assert cookie.value not in raw
    for value in credential.tokens.values():
        assert value not in raw
    assert "hdr-SECRET-1" not in raw  # a page header's value
    async with CredentialStore.open(database, clock=clock, key=KEY) as again:
        loaded = await again.get("cloudflare", "default")
    assert loaded is not None
    assert loaded.cookies == credential.cookies
    assert dict(loaded.tokens) == dict(credential.tokens)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("another-key", "does not open this store: it was sealed with another key"),
        (None, "its credentials are encrypted: set [storage] key"),
    ],
)
async def test_the_wrong_key_or_none_is_refused_at_open(
    database: str | Path, clock: FakeClock, key: str | None, said: str
) -> None:
    async with CredentialStore.open(database, clock=clock, key=KEY) as store:
        await store.put(full_credential())
    with pytest.raises(StoreKeyError) as caught:
        await CredentialStore.open(database, clock=clock, key=key)
    assert said in str(caught.value)
    assert KEY not in str(caught.value)
    assert "another-key" not in str(caught.value)


async def test_a_plain_store_given_a_key_reads_its_old_rows_and_seals_new_ones(
    database: str | Path, clock: FakeClock
) -> None:
    async with CredentialStore.open(database, clock=clock) as plain:
        await plain.put(full_credential("flowgpt"))
    async with CredentialStore.open(database, clock=clock, key=KEY) as sealed:
        old = await sealed.get("flowgpt", "default")
        await sealed.put(full_credential("cloudflare"))
        rows = await sealed._run("SELECT provider, body FROM credentials ORDER BY provider")
    assert old is not None
    assert old.tokens
    bodies = {provider: body for provider, body in rows}
    assert bodies["cloudflare"].startswith("sealed:v1:")
    assert bodies["flowgpt"].startswith("{")  # left as it was until its next harvest
    # Sealed now: it needs its key from here on.
    with pytest.raises(StoreKeyError):
        await CredentialStore.open(database, clock=clock)


async def test_a_sealed_body_copied_onto_another_row_does_not_open(
    database: str | Path, clock: FakeClock
) -> None:
    async with CredentialStore.open(database, clock=clock, key=KEY) as store:
        await store.put(full_credential("cloudflare"))
        await store.put(full_credential("flowgpt"))
        await store._run(
            "UPDATE credentials SET body = (SELECT body FROM credentials"
            " WHERE provider = 'cloudflare') WHERE provider = 'flowgpt'"
        )
        with pytest.raises(StoreKeyError, match="flowgpt/default does not open"):
            await store.get("flowgpt", "default")
