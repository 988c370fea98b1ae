"""What only the PostgreSQL engine has: a server to reach, a URL with a password, a
daemon role kept by heartbeat. (The store's semantics are the shared suite's: every
test of ``test_store.py`` runs on both engines.)"""

from __future__ import annotations

import secrets
import socket

import anyio
import pytest

from storage import (
    BadLocation,
    CredentialStore,
    SchemaTooNew,
    StoreUnavailable,
    describe_database,
)
from storage._postgres import PRESENCE_TTL

from .._postgres import PostgresCluster
from .conftest import FakeClock, full_credential

pytestmark = pytest.mark.anyio


async def new_database(postgres: PostgresCluster) -> str:
    return await anyio.to_thread.run_sync(postgres.create_database, "t_" + secrets.token_hex(6))


async def test_the_password_is_in_no_repr_error_or_description(
    postgres: PostgresCluster,
) -> None:
    url = await new_database(postgres)
    async with CredentialStore.open(url) as store:
        shown = repr(store)
        assert postgres.password not in shown
        assert f"harvest:[secure]@127.0.0.1:{postgres.port}/" in shown
        assert store.path is None
    assert postgres.password not in describe_database(url)
    assert postgres.password not in describe_database(url + f"?password={postgres.password}")


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("wrong password", "refused the user name or password"),
        ("no such database", "has no such database: create it"),
        ("nobody listening", "refused the connection: is PostgreSQL running"),
        ("bad port", "it is not a PostgreSQL URL"),
    ],
)
async def test_each_way_to_fail_opening_is_named_without_the_password(
    postgres: PostgresCluster, kind: str, said: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = {
        "wrong password": postgres.url(password="wrong-SECRET-3"),
        "no such database": postgres.url("missing_db"),
        "nobody listening": postgres.url().replace(f":{postgres.port}/", f":{closed}/"),
        "bad port": postgres.url().replace(f":{postgres.port}/", ":port/"),
    }[kind]
    error = BadLocation if kind == "bad port" else StoreUnavailable
    with pytest.raises(error) as caught:
        await CredentialStore.open(url, busy_timeout=5)
    message = str(caught.value)
    assert said in message
    assert postgres.password not in message
    assert "SECRET" not in message


async def test_a_schema_newer_than_the_code_is_refused_and_left_alone(
    postgres: PostgresCluster,
) -> None:
    url = await new_database(postgres)
    async with CredentialStore.open(url) as store:
        await store.put(full_credential())
        await store._run("UPDATE session_harvest_schema SET version = 99")
    with pytest.raises(SchemaTooNew, match="schema version 99"):
        await CredentialStore.open(url)


async def test_daemons_join_a_fleet_each_with_a_heartbeat_row(postgres: PostgresCluster) -> None:
    url = await new_database(postgres)
    clock = FakeClock()
    async with (
        CredentialStore.open(url, clock=clock) as one,
        CredentialStore.open(url, clock=clock) as two,
    ):
        assert await one.running_daemon() is None
        assert await one.claim_daemon() is None
        assert await two.claim_daemon() is None  # a second daemon joins: not refused
        running = await two.running_daemon()
        assert running is not None
        assert running > 0
        rows = await one._run("SELECT count(*) FROM daemon_presence")
        assert rows == [(2,)]
        await one.release_daemon()
        assert await two.running_daemon() is not None  # the other still serves
        # A daemon that stops beating (a machine gone) counts no more once it lapses.
        two._engine._heartbeat.cancel()  # type: ignore[attr-defined]
        clock.advance(PRESENCE_TTL + 1)
        assert await one.running_daemon() is None


async def test_writers_on_many_connections_lose_no_cookie(postgres: PostgresCluster) -> None:
    # Write-backs by harvest from many connections at once: each merges into what the
    # others wrote (the transaction's lock), none is refused, none is lost.
    url = await new_database(postgres)
    from storage import Cookie

    async with CredentialStore.open(url) as store:
        stored = await store.put(full_credential(cookies=()))
        stores = [await CredentialStore.open(url) for _ in range(8)]
        try:
            async with anyio.create_task_group() as group:
                for n in range(40):
                    cookie = Cookie(f"c{n}", str(n), "example.com")
                    group.start_soon(
                        lambda s=stores[n % 8], c=cookie: s.merge_cookies(
                            "cloudflare", "default", [c], harvested_at=stored.harvested_at
                        )
                    )
        finally:
            for other in stores:
                await other.aclose()
        merged = await store.get("cloudflare", "default")
    assert merged is not None
    assert sorted(c.name for c in merged.cookies) == sorted(f"c{n}" for n in range(40))
    assert merged.generation == stored.generation + 40


async def test_a_client_hears_another_processs_write_at_once(postgres: PostgresCluster) -> None:
    # LISTEN/NOTIFY: the view drops what another store changed when it is announced,
    # with its own looks at the store switched off (polling is only the fallback).
    from client._view import CredentialView

    url = await new_database(postgres)
    async with (
        CredentialStore.open(url) as mine,
        CredentialStore.open(url) as theirs,
    ):
        await theirs.put(full_credential(user_agent="first"))
        view = CredentialView(mine, check_every=3600)
        assert await view.listen()
        before = await view.get("cloudflare", "default")
        assert before is not None
        assert before.user_agent == "first"
        announced = anyio.Event()
        assert await mine.listen(lambda _p, _pr: announced.set())
        await theirs.put(full_credential(user_agent="second"))
        with anyio.fail_after(10):
            await announced.wait()
        after = await view.get("cloudflare", "default")
        await view.aclose()
    assert after is not None
    assert after.user_agent == "second"
    assert view.heard >= 1


async def test_listeners_that_start_together_share_one_connection(
    postgres: PostgresCluster,
) -> None:
    url = await new_database(postgres)
    name = url.rsplit("/", 1)[1]
    heard: list[str] = []
    async with CredentialStore.open(url) as mine, CredentialStore.open(url) as theirs:
        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(mine.listen, lambda _p, _pr, n=n: heard.append(f"listener {n}"))
        listening = await theirs._engine.run(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ? AND query LIKE 'LISTEN %'",
            (name,),
        )
        await theirs.put(full_credential())
        with anyio.fail_after(10):
            while len(heard) < 3:  # noqa: ASYNC110 - three callbacks, not one event
                await anyio.sleep(0.01)
    assert listening == [(1,)]
    assert sorted(heard) == ["listener 0", "listener 1", "listener 2"]


async def test_an_sqlite_store_announces_nothing(tmp_path: object) -> None:
    from pathlib import Path

    async with CredentialStore.open(Path(str(tmp_path)) / "c.db") as store:
        assert not await store.listen(lambda _p, _pr: None)


async def test_a_socket_directory_url_reaches_the_server(postgres: PostgresCluster) -> None:
    url = await new_database(postgres)
    name = url.rsplit("/", 1)[1]
    sockets = postgres.directory / "sockets"
    local = f"postgresql://harvest:{postgres.password}@/{name}?host={sockets}&port={postgres.port}"
    async with CredentialStore.open(local) as store:
        await store.put(full_credential())
        shown = repr(store)
    async with CredentialStore.open(url) as over_tcp:
        assert await over_tcp.get("cloudflare", "default") is not None
    assert postgres.password not in shown
    assert f"host={sockets}" in shown
