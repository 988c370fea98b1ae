"""The PostgreSQL engine of the credential store: one database shared by the clients
and daemons of many machines. This is the only module that imports ``asyncpg``.

asyncpg (rather than psycopg 3): asyncio-native with no thread in between, its own
connection pool, LISTEN/NOTIFY on a connection, and binary protocol speed. Statements
are the store's own, with ``?`` placeholders numbered here (``$1``, ``$2``, ...).
Single statements are atomic on their own; a multi-statement transaction first takes
one transaction-scoped advisory lock, so writers that read before they write wait for
each other as SQLite's ``BEGIN IMMEDIATE`` makes them (and a lock is safe behind a
transaction-mode connection pooler, which a session-level one is not). Each daemon's
presence is a heartbeat row, renewed while it runs: several daemons on several machines
share one store, each (provider, profile) kept by one of them (keeper leases).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import asyncpg

from ._errors import BadLocation, SchemaTooNew, StorageError, StoreClosed, StoreUnavailable
from ._holders import holder_is_dead, holder_name
from ._redact import REDACTED, redact_url
from ._schema import POSTGRES_MIGRATIONS, SCHEMA_VERSION

__all__ = ["PostgresEngine", "shown_url"]

logger = logging.getLogger("storage")

# The key of the advisory lock every multi-statement transaction takes ("sh" + 1).
_WRITE_LOCK = 0x7368_0001
_SCHEMA_TABLE = "session_harvest_schema"
_POOL_SIZE = 10
CHANNEL = "session_harvest"  # where the schema's triggers announce changes
# The daemon's heartbeat: renewed every third of this; free once it lapses.
PRESENCE_TTL = 15.0


def shown_url(url: str) -> str:
    """``url`` as errors and reprs may show it: no password, in user-info or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    if parts.query:
        query = [(k, "-" if k == "password" else v) for k, v in parse_qsl(parts.query)]
        url = urlunsplit(parts._replace(query=urlencode(query, safe="/")))
    return redact_url(url).replace("password=-", f"password={REDACTED}")


def _numbered(sql: str) -> str:
    """The store's ``?`` placeholders as PostgreSQL's ``$1``, ``$2``, ... (its SQL has
    no ``?`` anywhere else)."""
    pieces = sql.split("?")
    return pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))


class _Transaction:
    """Statements inside one transaction that holds the store's write lock."""

    def __init__(self, conn: asyncpg.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        async with _translate(self._where):
            return [tuple(row) for row in await self._conn.fetch(_numbered(sql), *params)]


class PostgresEngine:
    """A pool of connections to one database."""

    def __init__(self, pool: asyncpg.Pool, where: str, clock: Callable[[], float]) -> None:
        self.where = where
        self._pool: asyncpg.Pool | None = pool
        self._listener: asyncpg.Connection | None = None  # LISTENing, outside the pool
        self._url = ""  # for the listening connection; never shown
        self._heard: list[Callable[[str, str], None]] = []
        self._listening = anyio.Lock()
        self._clock = clock
        self._holder: str | None = None  # our daemon claim's holder name, while held
        self._heartbeat: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, url: str, clock: Callable[[], float], *, connect_within: float = 10.0
    ) -> PostgresEngine:
        where = shown_url(url)
        try:
            urlsplit(url).port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise BadLocation(
                where, "it is not a PostgreSQL URL (postgresql://user:password@host:port/db)"
            ) from None
        async with _translate(where):
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=_POOL_SIZE, timeout=connect_within, command_timeout=60
            )
        engine = cls(pool, where, clock)
        engine._url = url
        try:
            await engine._migrate()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await pool.close()
            raise
        return engine

    @property
    def closed(self) -> bool:
        return self._pool is None

    async def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.release_daemon()  # still through the pool
            finally:
                self._pool = None
                listener, self._listener = self._listener, None
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await listener.close()
                await pool.close()

    async def check(self) -> None:
        await self.run("SELECT count(*) FROM credentials")

    async def run(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        """One statement, with all its rows (a connection from the pool)."""
        pool = self._live()
        # A caller cancelled before it starts sends nothing (as with SQLite): once sent,
        # a statement may finish on the server whatever the caller does.
        await anyio.lowlevel.checkpoint_if_cancelled()
        async with _translate(self.where):
            rows = await pool.fetch(_numbered(sql), *params)
        return [tuple(row) for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        pool = self._live()
        await anyio.lowlevel.checkpoint_if_cancelled()
        async with _translate(self.where), pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            yield _Transaction(conn, self.where)

    async def listen(self, heard: Callable[[str, str], None]) -> bool:
        """Call ``heard(provider, profile)`` on every change any process makes (one
        connection of its own, outside the pool, shared by every listener); True once
        listening."""
        # The lock makes two first listeners share one connection rather than open two.
        async with self._listening:
            if self._listener is None:
                self._listener = await self._connect_listener()
            self._heard.append(heard)
        return True

    async def _connect_listener(self) -> asyncpg.Connection:
        self._live()
        async with _translate(self.where):
            listener = await asyncpg.connect(self._url)

        def notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            provider, _, profile = payload.partition("\x1f")
            for call in list(self._heard):
                call(provider, profile)

        try:
            async with _translate(self.where):
                await listener.add_listener(CHANNEL, notified)
            self._live()  # closed while we connected: close() has nothing to close it
        except BaseException:
            with anyio.CancelScope(shield=True):
                await listener.close()
            raise
        return listener

    def unlisten(self, heard: Callable[[str, str], None]) -> None:
        with contextlib.suppress(ValueError):
            self._heard.remove(heard)

    def _live(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreClosed
        return self._pool

    async def _migrate(self) -> None:
        async with self.transaction() as db:
            await db.fetch(f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} (version integer NOT NULL)")
            rows = await db.fetch(f"SELECT version FROM {_SCHEMA_TABLE}")
            version = int(rows[0][0]) if rows else 0
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(self.where, version, SCHEMA_VERSION)
            for statements in POSTGRES_MIGRATIONS[version:]:
                for statement in statements:
                    await db.fetch(statement)
            if not rows:
                await db.fetch(f"INSERT INTO {_SCHEMA_TABLE} VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                await db.fetch(f"UPDATE {_SCHEMA_TABLE} SET version = ?", (SCHEMA_VERSION,))

    # -- the daemons' presence: a heartbeat row each ----------------------------------

    async def running_daemon(self) -> int | None:
        """A live daemon of the fleet (the one that beat last), or ``None``."""
        rows = await self.run(
            "SELECT holder, pid FROM daemon_presence WHERE until > ? ORDER BY until DESC",
            (self._clock(),),
        )
        alive = [pid for holder, pid in rows if not holder_is_dead(holder)]
        return int(alive[0]) if alive else None

    async def claim_daemon(self) -> int | None:
        """Join the fleet: on PostgreSQL any number of daemons serve one store (each
        (provider, profile) kept by one of them, through keeper leases): never refused."""
        if self._holder is not None:
            return None
        holder = holder_name()
        await self.run(
            "INSERT INTO daemon_presence (role, holder, pid, until) VALUES (?, ?, ?, ?)",
            (holder, holder, os.getpid(), self._clock() + PRESENCE_TTL),
        )
        # Rows of daemons gone for good (a lapse ten times over) are swept as we join.
        await self.run(
            "DELETE FROM daemon_presence WHERE until < ?", (self._clock() - 10 * PRESENCE_TTL,)
        )
        self._holder = holder
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(holder))
        return None

    async def release_daemon(self) -> None:
        holder, self._holder = self._holder, None
        if holder is None:
            return
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
            self._heartbeat = None
        with contextlib.suppress(StorageError):
            await self.run("DELETE FROM daemon_presence WHERE role = ?", (holder,))

    async def _beat(self, holder: str) -> None:
        while True:
            await anyio.sleep(PRESENCE_TTL / 3)
            try:
                rows = await self.run(
                    "UPDATE daemon_presence SET until = ? WHERE role = ? RETURNING 1",
                    (self._clock() + PRESENCE_TTL, holder),
                )
            except StorageError as exc:
                logger.warning("the daemon's heartbeat failed: %s", exc)
                continue
            if not rows:
                # Swept after a long silence (a suspended machine): join again.
                await self.run(
                    "INSERT INTO daemon_presence (role, holder, pid, until) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (role) DO NOTHING",
                    (holder, holder, os.getpid(), self._clock() + PRESENCE_TTL),
                )


@asynccontextmanager
async def _translate(where: str) -> AsyncIterator[None]:
    """asyncpg's and the network's errors as the store's, in one line, no secret."""
    try:
        yield
    except StorageError:
        raise
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        raise StoreUnavailable(
            where, "the server refused the user name or password in the URL"
        ) from None
    except asyncpg.InvalidCatalogNameError:
        raise StoreUnavailable(
            where,
            "the server has no such database: create it (createdb NAME), or fix the URL",
        ) from None
    except socket.gaierror:
        raise StoreUnavailable(where, "the server's host name does not resolve") from None
    except ConnectionRefusedError:
        raise StoreUnavailable(
            where, "the server refused the connection: is PostgreSQL running at that address?"
        ) from None
    except (OSError, TimeoutError, asyncpg.exceptions.ConnectionDoesNotExistError) as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc) or "lost"
        raise StoreUnavailable(where, f"cannot reach the server ({reason})") from None
    except asyncpg.PostgresError as exc:
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StoreUnavailable(where, f"PostgreSQL failed: {said}") from None
    except asyncpg.InterfaceError as exc:
        raise StoreUnavailable(where, f"the PostgreSQL connection failed: {exc}") from None
