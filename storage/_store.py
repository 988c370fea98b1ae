"""The credential store: one interface over two engines with the same semantics.

A path opens the embedded SQLite file (``_sqlite.py``: one machine's daemon, scripts
and clients); a ``postgresql://`` URL opens a PostgreSQL database (``_postgres.py``:
clients and daemons on many machines). Every operation below is written once, in SQL
both engines run: single statements are atomic, the few multi-statement ones run in an
engine transaction that serializes writers (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
transaction-scoped advisory lock), and write-back is a compare-and-set on the
generation.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import time
import warnings
from collections.abc import Callable, Collection, Generator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import anyio

from ._cookies import Cookie, merged_cookies
from ._errors import StoreKeyError
from ._holders import holder_is_dead
from ._models import Attempt, Cooldown, Credential, CredentialStatus, Lease, RefreshRequest
from ._sealing import CHECK_NAME, Sealer, unsealed
from ._sqlite import SqliteEngine

__all__ = ["CredentialStore", "describe_database", "is_database_url"]

# How many history rows to keep per (provider, profile): enough for status and metrics,
# bounded so a daemon running for months does not grow the database without end.
_HISTORY_KEPT = 500

_CREDENTIAL_COLUMNS = (
    "provider, profile, generation, status, last_error, harvested_at, expires_at, body"
)
_REQUEST_COLUMNS = "id, provider, profile, requested_at, reason, taken_by, newer_than"
_URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(database: str | os.PathLike[str]) -> bool:
    """Whether ``database`` names a PostgreSQL server (a URL) rather than a file."""
    return isinstance(database, str) and database.startswith(_URL_SCHEMES)


def _lease_table(keeper: bool) -> str:
    return "keepers" if keeper else "leases"


def describe_database(database: str | os.PathLike[str]) -> str:
    """``database`` as logs, errors and ``status`` may show it: a path as it is, a URL
    without its password."""
    if is_database_url(database):
        from ._postgres import shown_url

        return shown_url(str(database))
    return str(database)


class _Transaction(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]: ...


class _Engine(Protocol):
    """What the store needs of a database: statements, transactions, the daemon role."""

    where: str  # the store as errors and reprs name it (no password)

    @property
    def closed(self) -> bool: ...

    async def close(self) -> None: ...

    async def check(self) -> None: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]: ...

    def transaction(self) -> AbstractAsyncContextManager[_Transaction]: ...

    async def running_daemon(self) -> int | None: ...

    async def claim_daemon(self) -> int | None: ...

    async def release_daemon(self) -> None: ...

    async def listen(self, heard: Callable[[str, str], None]) -> bool: ...

    def unlisten(self, heard: Callable[[str, str], None]) -> None: ...


class CredentialStore:
    """Async access to the credential database.

    Open it with ``async with CredentialStore.open(database) as store`` (or
    ``store = await CredentialStore.open(database)`` and later ``await store.aclose()``).
    """

    def __init__(
        self, engine: _Engine, clock: Callable[[], float], sealer: Sealer | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._sealer = sealer  # with a key: bodies are sealed at rest

    @classmethod
    def open(
        cls,
        database: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        key: str | None = None,
    ) -> _Opening:
        """Open (creating if needed) the store at ``database``: the one way every
        caller opens the configured store.

        A path is an SQLite file: a new one is created with mode 0600 and new
        directories with 0700; a file that is not a database, or whose schema is newer
        than this code, raises and is left unchanged; ``busy_timeout`` is how long a
        write waits for another process. A ``postgresql://user:password@host:port/db``
        URL (or ``postgres://``; a socket directory through ``?host=``) is a PostgreSQL
        database, whose tables are created on first use. With ``key``, credentials are
        sealed at rest (``_sealing.py``); a sealed store needs its key to open.
        """
        return _Opening(cls._connect(database, busy_timeout, clock, key))

    @classmethod
    async def _connect(
        cls,
        database: str | os.PathLike[str],
        busy_timeout: float,
        clock: Callable[[], float],
        key: str | None,
    ) -> CredentialStore:
        engine: _Engine
        if is_database_url(database):
            # Imported here: a machine on SQLite never loads the PostgreSQL driver.
            from ._postgres import PostgresEngine

            engine = await PostgresEngine.open(str(database), clock, connect_within=busy_timeout)
        else:
            engine = await SqliteEngine.open(Path(database), busy_timeout)
        store = cls(engine, clock, Sealer(key) if key else None)
        try:
            await store._check_key()
        except BaseException:
            await engine.close()
            raise
        return store

    async def _check_key(self) -> None:
        """The key opens this store (or it has none and needs none); a first key given
        to a store marks it sealed from now on."""
        rows = await self._run("SELECT value FROM store_meta WHERE name = ?", (CHECK_NAME,))
        check = rows[0][0] if rows else None
        if self._sealer is None:
            if check is not None:
                unsealed(check, "", "", self.where)  # raises: say it needs its key
            return
        if check is None:
            await self._run(
                "INSERT INTO store_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (CHECK_NAME, self._sealer.check_value()),
            )
        elif not self._sealer.matches(check):
            raise StoreKeyError(
                self.where,
                "the store key does not open this store: it was sealed with another key "
                "([storage] key or HARVEST_STORE_KEY)",
            )

    @staticmethod
    async def exists(database: str | os.PathLike[str]) -> bool:
        """Whether a store is at ``database`` already (``status`` does not create a
        file; a server is asked when opened)."""
        if is_database_url(database):
            return True
        return await anyio.Path(database).exists()

    @property
    def path(self) -> Path | None:
        """The database file (``None`` for a PostgreSQL store)."""
        return self._engine.path if isinstance(self._engine, SqliteEngine) else None

    @property
    def where(self) -> str:
        """The store as logs may name it: its file, or its URL without the password."""
        return self._engine.where

    async def aclose(self) -> None:
        """Close the connection (and give up the daemon role, if this store held it);
        the store cannot be used afterwards."""
        await self._engine.close()

    async def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers a read (and, for a file,
        it is still the one opened: a database deleted or replaced under a running
        process would take every later write into a file no one can open again)."""
        await self._engine.check()

    # -- the daemon ------------------------------------------------------------------

    async def running_daemon(self) -> int | None:
        """The pid of the ``harvest daemon`` serving this store (-1 when it has not
        written it yet), or ``None``: then no one serves refresh requests."""
        return await self._engine.running_daemon()

    async def claim_daemon(self) -> int | None:
        """Become this store's daemon: ``None`` on success, else the running one's pid.
        The role ends with ``release_daemon``, ``aclose`` or this process."""
        return await self._engine.claim_daemon()

    async def release_daemon(self) -> None:
        """Give the daemon role up (nothing happens if this store does not hold it)."""
        await self._engine.release_daemon()

    async def __aenter__(self) -> CredentialStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None and not engine.closed:
            warnings.warn(
                f"CredentialStore({engine.where!r}) was not closed; use `async with`",
                ResourceWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        state = "closed" if self._engine.closed else "open"
        return f"<CredentialStore {self._engine.where!r} {state}>"

    # -- credentials ---------------------------------------------------------------

    async def put(self, credential: Credential) -> Credential:
        """Store ``credential``, replacing its (provider, profile) atomically.

        Returns the credential as stored, with its new generation.
        """
        rows = await self._run(
            f"""
            INSERT INTO credentials ({_CREDENTIAL_COLUMNS}, updated_at)
            VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (provider, profile) DO UPDATE SET
                generation = credentials.generation + 1,
                status = excluded.status,
                last_error = excluded.last_error,
                harvested_at = excluded.harvested_at,
                expires_at = excluded.expires_at,
                updated_at = excluded.updated_at,
                body = excluded.body
            RETURNING generation
            """,
            (
                credential.provider,
                credential.profile,
                str(credential.status),
                credential.last_error,
                credential.harvested_at,
                credential.expires_at,
                self._seal(_encode_body(credential), credential.provider, credential.profile),
                self._clock(),
            ),
        )
        return dataclasses.replace(credential, generation=int(rows[0][0]))

    async def get(self, provider: str, profile: str | None = None) -> Credential | None:
        """One credential, or ``None``.

        With ``profile``, that profile whatever its status. Without, the most recently
        harvested profile of ``provider`` that is fresh and not expired.
        """
        if profile is not None:
            found = await self._select("WHERE provider = ? AND profile = ?", (provider, profile))
        else:
            found = await self._select(
                "WHERE provider = ? AND status = 'fresh' AND"
                " (expires_at IS NULL OR expires_at > ?)"
                " ORDER BY harvested_at DESC, profile LIMIT 1",
                (provider, self._clock()),
            )
        return found[0] if found else None

    async def list(self, provider: str | None = None) -> builtins.list[Credential]:
        """Every stored credential (of ``provider``, if given), by provider and profile."""
        if provider is None:
            return await self._select("ORDER BY provider, profile", ())
        return await self._select("WHERE provider = ? ORDER BY profile", (provider,))

    async def mark(
        self,
        provider: str,
        profile: str,
        status: CredentialStatus | str,
        error: str | None = None,
        *,
        generation: int | None = None,
        harvested_at: float | None = None,
    ) -> bool:
        """Set status and last error, keeping the credential itself.

        With ``generation``, only if the stored credential is still that generation.
        With ``harvested_at``, only if it is still that harvest: cookie write-backs do
        not change it, a new harvest does, so a client marks what it was refused with
        and never a newer harvest. Returns whether a row changed.
        """
        status = CredentialStatus(status)
        rows = await self._run(
            "UPDATE credentials SET status = ?, last_error = ?, updated_at = ?,"
            " generation = generation + 1"
            " WHERE provider = ? AND profile = ? AND generation = coalesce(?, generation)"
            " AND harvested_at = coalesce(?, harvested_at)"
            " RETURNING 1",
            (str(status), error, self._clock(), provider, profile, generation, harvested_at),
        )
        return bool(rows)

    async def merge_cookies(
        self,
        provider: str,
        profile: str,
        cookies: Iterable[Cookie],
        *,
        generation: int | None = None,
        harvested_at: float | None = None,
    ) -> bool:
        """Write back cookies a response set, if the credential is still ``generation``
        (or, given ``harvested_at`` instead, still that harvest).

        A cookie replaces the stored one with the same (name, domain, host-only flag,
        path), placed as ``merged_cookies`` places it; an expired one deletes it.
        Returns whether the write applied; on success the stored generation is one
        more. With ``generation`` a refusal means the credential changed (a new harvest,
        or another client's write-back): read it again. With ``harvested_at`` only a new
        harvest refuses: concurrent write-backs each merge into what the other wrote.
        """
        if (generation is None) == (harvested_at is None):
            raise ValueError("merge_cookies takes one of generation and harvested_at")
        if harvested_at is not None:
            return await self._merge_into_harvest(provider, profile, cookies, harvested_at)
        rows = await self._run(
            "SELECT body FROM credentials WHERE provider = ? AND profile = ? AND generation = ?",
            (provider, profile, generation),
        )
        if not rows:
            return False
        now = self._clock()
        # No transaction needed: the generation check in the UPDATE is the
        # compare-and-set, so a write that landed since the SELECT makes this one miss.
        rows = await self._run(
            "UPDATE credentials SET body = ?, updated_at = ?, generation = generation + 1"
            " WHERE provider = ? AND profile = ? AND generation = ? RETURNING 1",
            (
                self._merged(rows[0][0], provider, profile, cookies, now),
                now,
                provider,
                profile,
                generation,
            ),
        )
        return bool(rows)

    async def _merge_into_harvest(
        self, provider: str, profile: str, cookies: Iterable[Cookie], harvested_at: float
    ) -> bool:
        # One transaction: another writer waits for it instead of being refused.
        async with self._transaction() as db:
            found = await db.fetch(
                "SELECT body FROM credentials"
                " WHERE provider = ? AND profile = ? AND harvested_at = ?",
                (provider, profile, harvested_at),
            )
            rows = found
            if not rows:
                return False
            now = self._clock()
            await db.fetch(
                "UPDATE credentials SET body = ?, updated_at = ?, generation = generation + 1"
                " WHERE provider = ? AND profile = ?",
                (self._merged(rows[0][0], provider, profile, cookies, now), now, provider, profile),
            )
        return True

    async def listen(self, heard: Callable[[str, str], None]) -> bool:
        """Have ``heard(provider, profile)`` called whenever any process changes that
        credential or its cool-down (PostgreSQL's LISTEN/NOTIFY): True if the engine
        announces changes, False if it does not (SQLite: poll ``changes``)."""
        return await self._engine.listen(heard)

    def unlisten(self, heard: Callable[[str, str], None]) -> None:
        """Stop calling ``heard``."""
        self._engine.unlisten(heard)

    async def changes(self) -> tuple[dict[tuple[str, str], int], builtins.list[Cooldown]]:
        """Every stored (provider, profile) with its generation (which every write
        changes) and the running ``cooldowns()``, in one trip to the database: how a
        client's in-memory view notices another process's writes."""
        rows = await self._run(
            "SELECT provider, profile, generation, NULL, NULL FROM credentials"
            " UNION ALL SELECT provider, profile, NULL, until, reason FROM cooldowns"
            " WHERE until > ?",
            (self._clock(),),
        )
        generations = {(str(p), str(pr)): int(g) for p, pr, g, _, _ in rows if g is not None}
        cooling = sorted(
            (Cooldown(str(p), str(pr), float(u), r) for p, pr, g, u, r in rows if g is None),
            key=lambda c: (c.until, c.profile),
        )
        return generations, cooling

    # -- refresh requests ----------------------------------------------------------

    async def request_refresh(
        self,
        provider: str,
        profile: str = "default",
        reason: str | None = None,
        *,
        newer_than: float | None = None,
    ) -> RefreshRequest:
        """Ask the daemon to harvest (provider, profile) again: for a credential harvested
        after ``newer_than`` (the asker's refused or stale one's ``harvested_at``), or,
        without it, after the request.

        Requests for the same pair coalesce: while one is pending, it is returned, asking
        for a credential newer than every asker's.
        """
        async with self._transaction() as db:
            rows = await db.fetch(
                f"SELECT {_REQUEST_COLUMNS} FROM refresh_requests"
                " WHERE provider = ? AND profile = ? ORDER BY id LIMIT 1",
                (provider, profile),
            )
            if not rows:
                rows = await db.fetch(
                    "INSERT INTO refresh_requests"
                    " (provider, profile, requested_at, reason, newer_than)"
                    f" VALUES (?, ?, ?, ?, ?) RETURNING {_REQUEST_COLUMNS}",
                    (provider, profile, self._clock(), reason, newer_than),
                )
            elif newer_than is not None:
                pending = RefreshRequest(*next(iter(rows)))
                if newer_than > pending.answered_after:
                    rows = await db.fetch(
                        "UPDATE refresh_requests SET newer_than = ? WHERE id = ?"
                        f" RETURNING {_REQUEST_COLUMNS}",
                        (newer_than, pending.id),
                    )
        return RefreshRequest(*next(iter(rows)))

    async def take_refresh_requests(
        self,
        holder: str,
        *,
        ttl: float = 60.0,
        skip: Collection[tuple[str, str]] = (),
    ) -> builtins.list[RefreshRequest]:
        """Claim the pending refresh requests for ``holder`` (the daemon), but those of
        the (provider, profile) pairs in ``skip`` (kept by another daemon of a fleet).

        A claim lasts ``ttl`` seconds and taking again renews ``holder``'s own claims
        (they are returned again). A request whose holder died is free at once when the
        holder ran on this machine (its pid is gone), else when its claim lapses.
        """
        now = self._clock()
        claimed = await self._run(
            "SELECT DISTINCT taken_by FROM refresh_requests"
            " WHERE taken_until > ? AND taken_by IS NOT NULL AND taken_by != ?",
            (now, holder),
        )
        dead = [row[0] for row in claimed if holder_is_dead(row[0])]
        # No empty "IN ()": PostgreSQL has none.
        of_the_dead = f" OR taken_by IN ({', '.join('?' * len(dead))})" if dead else ""
        pairs = builtins.list(skip)
        others = " OR ".join(["(provider = ? AND profile = ?)"] * len(pairs))
        not_theirs = f" AND NOT ({others})" if pairs else ""
        rows = await self._run(
            "UPDATE refresh_requests SET taken_by = ?, taken_until = ?"
            f" WHERE (taken_until IS NULL OR taken_until <= ? OR taken_by = ?{of_the_dead})"
            f"{not_theirs} RETURNING {_REQUEST_COLUMNS}",
            (holder, now + ttl, now, holder, *dead, *(v for pair in pairs for v in pair)),
        )
        return sorted((RefreshRequest(*row) for row in rows), key=lambda r: r.id)

    async def withdraw_refresh(self, request: RefreshRequest | int) -> bool:
        """Take back a refresh request no daemon has claimed yet (the asker got its new
        credential another way); returns whether it was still unclaimed."""
        request_id = request.id if isinstance(request, RefreshRequest) else request
        rows = await self._run(
            "DELETE FROM refresh_requests WHERE id = ? AND taken_by IS NULL RETURNING 1",
            (request_id,),
        )
        return bool(rows)

    async def finish_refresh(self, request: RefreshRequest | int) -> None:
        """Remove a served refresh request."""
        request_id = request.id if isinstance(request, RefreshRequest) else request
        await self._run("DELETE FROM refresh_requests WHERE id = ?", (request_id,))

    async def pending_refreshes(self) -> builtins.list[RefreshRequest]:
        """Every refresh request not yet finished, claimed or not, oldest first."""
        rows = await self._run(f"SELECT {_REQUEST_COLUMNS} FROM refresh_requests ORDER BY id")
        return [RefreshRequest(*row) for row in rows]

    # -- leases --------------------------------------------------------------------

    async def acquire(
        self, provider: str, profile: str, holder: str, ttl: float, *, keeper: bool = False
    ) -> Lease | None:
        """Take the harvest lease of (provider, profile) for ``ttl`` seconds (with
        ``keeper``, the keeper lease: a daemon's right to keep it).

        Succeeds when nobody holds it, when the holder's lease has expired or its
        holder is known dead (a process of this machine that is gone), or when
        ``holder`` already holds it. Returns the lease, or ``None`` if another holds it.
        """
        table = _lease_table(keeper)
        now = self._clock()
        lease = Lease(provider, profile, holder, now + ttl, keeper)
        current = await self._run(
            f"SELECT holder FROM {table} WHERE provider = ? AND profile = ?", (provider, profile)
        )
        dead = current[0][0] if current and holder_is_dead(current[0][0]) else None
        rows = await self._run(
            f"INSERT INTO {table} (provider, profile, holder, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (provider, profile) DO UPDATE SET"
            " holder = excluded.holder, expires_at = excluded.expires_at"
            f" WHERE {table}.expires_at <= ? OR {table}.holder = excluded.holder"
            f" OR {table}.holder = ?"
            " RETURNING 1",
            (provider, profile, holder, lease.expires_at, now, dead),
        )
        return lease if rows else None

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend ``lease`` by ``ttl`` seconds from now; ``None`` if it was taken over."""
        renewed = dataclasses.replace(lease, expires_at=self._clock() + ttl)
        rows = await self._run(
            f"UPDATE {_lease_table(lease.keeper)} SET expires_at = ?"
            " WHERE provider = ? AND profile = ? AND holder = ? RETURNING 1",
            (renewed.expires_at, lease.provider, lease.profile, lease.holder),
        )
        return renewed if rows else None

    async def release(self, lease: Lease) -> bool:
        """Give ``lease`` up; returns whether it was still held."""
        rows = await self._run(
            f"DELETE FROM {_lease_table(lease.keeper)}"
            " WHERE provider = ? AND profile = ? AND holder = ? RETURNING 1",
            (lease.provider, lease.profile, lease.holder),
        )
        return bool(rows)

    async def holder(self, provider: str, profile: str, *, keeper: bool = False) -> Lease | None:
        """The unexpired lease on (provider, profile) of a live holder, if any."""
        rows = await self._run(
            f"SELECT provider, profile, holder, expires_at FROM {_lease_table(keeper)}"
            " WHERE provider = ? AND profile = ? AND expires_at > ?",
            (provider, profile, self._clock()),
        )
        if not rows or holder_is_dead(rows[0][2]):
            return None
        provider_, profile_, holder_, expires_at = rows[0]
        return Lease(provider_, profile_, holder_, expires_at, keeper)

    # -- cool-downs ----------------------------------------------------------------

    async def cool_down(
        self, provider: str, profile: str, until: float, reason: str | None = None
    ) -> None:
        """Rest (provider, profile) until ``until`` (a later one already set stays)."""
        await self._run(
            "INSERT INTO cooldowns (provider, profile, until, reason) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (provider, profile) DO UPDATE SET"
            " reason = CASE WHEN excluded.until > cooldowns.until"
            " THEN excluded.reason ELSE cooldowns.reason END,"
            " until = CASE WHEN excluded.until > cooldowns.until"
            " THEN excluded.until ELSE cooldowns.until END",
            (provider, profile, until, reason),
        )

    async def end_cooldown(self, provider: str, profile: str) -> bool:
        """End (provider, profile)'s rest now; whether it had one."""
        rows = await self._run(
            "DELETE FROM cooldowns WHERE provider = ? AND profile = ? RETURNING 1",
            (provider, profile),
        )
        return bool(rows)

    async def cooldowns(self, provider: str | None = None) -> builtins.list[Cooldown]:
        """The cool-downs still running (of ``provider``, if given), soonest over first."""
        rows = await self._run(
            "SELECT provider, profile, until, reason FROM cooldowns"
            " WHERE until > ? AND provider = coalesce(?, provider) ORDER BY until, profile",
            (self._clock(), provider),
        )
        return [Cooldown(str(p), str(pr), float(u), r) for p, pr, u, r in rows]

    # -- history -------------------------------------------------------------------

    async def record_attempt(self, attempt: Attempt) -> None:
        """Add one harvest attempt to the history (the oldest beyond a bound are dropped)."""
        key = (attempt.provider, attempt.profile)
        async with self._transaction() as db:
            await db.fetch(
                "INSERT INTO attempts (provider, profile, started, duration, ok, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*key, attempt.started, attempt.duration, int(attempt.ok), attempt.error),
            )
            await db.fetch(
                "DELETE FROM attempts WHERE provider = ? AND profile = ? AND id <= ("
                " SELECT id FROM attempts WHERE provider = ? AND profile = ?"
                " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (*key, *key, _HISTORY_KEPT),
            )

    async def recent_attempts(
        self, provider: str | None = None, profile: str | None = None, *, limit: int = 20
    ) -> builtins.list[Attempt]:
        """The newest attempts first, optionally of one provider and profile."""
        rows = await self._run(
            "SELECT provider, profile, started, duration, ok, error FROM attempts"
            " WHERE provider = coalesce(?, provider) AND profile = coalesce(?, profile)"
            " ORDER BY id DESC LIMIT ?",
            (provider, profile, limit),
        )
        return [Attempt(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    # -- plumbing ------------------------------------------------------------------

    async def _select(self, tail: str, params: tuple[Any, ...]) -> builtins.list[Credential]:
        rows = await self._run(f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials {tail}", params)
        return [_decode_row(row, self._unseal(row[7], row[0], row[1])) for row in rows]

    async def _run(self, sql: str, params: tuple[Any, ...] = ()) -> builtins.list[Any]:
        """One statement, with all its rows (atomic on its own)."""
        return await self._engine.run(sql, params)

    def _transaction(self) -> AbstractAsyncContextManager[_Transaction]:
        """Several statements as one transaction; writers wait for each other."""
        return self._engine.transaction()

    def _seal(self, body: str, provider: str, profile: str) -> str:
        return self._sealer.seal(body, provider, profile) if self._sealer else body

    def _unseal(self, stored: str, provider: str, profile: str) -> str:
        if self._sealer is None:
            return unsealed(stored, provider, profile, self.where)
        return self._sealer.open(stored, provider, profile, where=self.where)

    def _merged(
        self, stored: str, provider: str, profile: str, cookies: Iterable[Cookie], now: float
    ) -> str:
        body = _with_cookies(self._unseal(stored, provider, profile), cookies, now)
        return self._seal(body, provider, profile)


class _Opening:
    """What ``CredentialStore.open()`` returns: awaitable, or an async context manager."""

    def __init__(self, opening: Any) -> None:
        self._opening = opening
        self._store: CredentialStore | None = None

    def __await__(self) -> Generator[Any, None, CredentialStore]:
        return self._opening.__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> CredentialStore:
        self._store = await self._opening
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.aclose()


def _with_cookies(body: str, cookies: Iterable[Cookie], now: float) -> str:
    """A stored body with ``cookies`` merged into its jar, as a browser stores them."""
    data = json.loads(body)
    jar = merged_cookies(map(Cookie.from_dict, data["cookies"]), cookies, now)
    data["cookies"] = [c.to_dict() for c in jar]
    return json.dumps(data)


def _encode_body(credential: Credential) -> str:
    return json.dumps(
        {
            "user_agent": credential.user_agent,
            "browser_name": credential.browser_name,
            "browser_version": credential.browser_version,
            "fingerprint": credential.fingerprint,
            "impersonate": credential.impersonate,
            "headers": [list(pair) for pair in credential.headers],
            "cookies": [c.to_dict() for c in credential.cookies],
            "tokens": dict(credential.tokens),
            "proxy": credential.proxy,
        }
    )


def _decode_row(row: Any, body: str) -> Credential:
    """A credential from its row and its (opened) body."""
    provider, profile, generation, status, last_error, harvested_at, expires_at, _ = row
    data = json.loads(body)
    return Credential(
        provider=provider,
        profile=profile,
        user_agent=data["user_agent"],
        browser_name=data["browser_name"],
        browser_version=data["browser_version"],
        fingerprint=data["fingerprint"],
        impersonate=data["impersonate"],
        headers=tuple((name, value) for name, value in data["headers"]),
        cookies=tuple(Cookie.from_dict(c) for c in data["cookies"]),
        tokens=data["tokens"],
        proxy=data["proxy"],
        harvested_at=harvested_at,
        expires_at=expires_at,
        generation=generation,
        status=CredentialStatus(status),
        last_error=last_error,
    )
