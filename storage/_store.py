"""The credential store: one SQLite file shared by the daemon, scripts and clients.

Concurrency rests on SQLite itself: WAL mode lets readers run beside a writer, and
``busy_timeout`` makes a writer wait for another instead of failing. Most operations
are one statement (atomic on its own, one trip to aiosqlite's thread); the few that
need several run in ``BEGIN IMMEDIATE``, which takes the write lock up front so two
processes never deadlock upgrading a read lock. Write-back is a compare-and-set on the
generation. Inside one process an ``anyio.Lock`` keeps tasks from interleaving on the
shared connection. This is the only module that imports ``aiosqlite``.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import socket
import sqlite3
import stat
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
import anyio

from ._cookies import Cookie, merged_cookies
from ._errors import (
    BadLocation,
    NotADatabase,
    SchemaTooNew,
    StorageError,
    StoreBusy,
    StoreClosed,
    StoreUnavailable,
)
from ._models import Attempt, Cooldown, Credential, CredentialStatus, Lease, RefreshRequest
from ._presence import DaemonPresence
from ._schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["CredentialStore"]

# How many history rows to keep per (provider, profile): enough for status and metrics,
# bounded so a daemon running for months does not grow the file without end.
_HISTORY_KEPT = 500

_CREDENTIAL_COLUMNS = (
    "provider, profile, generation, status, last_error, harvested_at, expires_at, body"
)
_REQUEST_COLUMNS = "id, provider, profile, requested_at, reason, taken_by, newer_than"


class CredentialStore:
    """Async access to the credential database.

    Open it with ``async with CredentialStore.open(path) as store`` (or
    ``store = await CredentialStore.open(path)`` and later ``await store.aclose()``).
    """

    def __init__(
        self,
        path: Path,
        conn: aiosqlite.Connection,
        clock: Callable[[], float],
        identity: tuple[int, int] | None = None,
    ) -> None:
        self._path = path
        self._identity = identity  # the file opened: (device, inode)
        self._conn: aiosqlite.Connection | None = conn
        self._clock = clock
        self._lock = anyio.Lock()
        self._presence = DaemonPresence(path)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> _Opening:
        """Open (creating if needed) the database at ``path``: the one way every
        caller opens the configured store.

        A new file is created with mode 0600 and new directories with 0700. A file that
        is not a database, or whose schema is newer than this code, raises and is left
        unchanged. ``busy_timeout`` is how long a write waits for another process.
        """
        return _Opening(cls._connect(Path(path), busy_timeout, clock))

    @classmethod
    async def _connect(
        cls, path: Path, busy_timeout: float, clock: Callable[[], float]
    ) -> CredentialStore:
        await anyio.to_thread.run_sync(_create_private_file, path)
        async with _translate(path):
            conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            async with _translate(path):
                await _prepare(conn, path, busy_timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await conn.close()
            raise
        return cls(path, conn, clock, await anyio.to_thread.run_sync(_file_identity, path))

    @staticmethod
    async def exists(path: str | os.PathLike[str]) -> bool:
        """Whether a store is at ``path`` already (``status`` does not create one)."""
        return await anyio.Path(path).exists()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def aclose(self) -> None:
        """Close the connection (and give up the daemon role, if this store held it);
        the store cannot be used afterwards."""
        conn, self._conn = self._conn, None
        with anyio.CancelScope(shield=True):
            await self.release_daemon()
            if conn is not None:
                await conn.close()

    async def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers a read and its file is
        still the one opened: a database deleted or replaced under a running process
        would take every later write into a file no one can open again."""
        found = await anyio.to_thread.run_sync(_file_identity, self._path)
        if self._identity is not None and found != self._identity:
            raise StoreUnavailable(
                str(self._path),
                "the database file was removed or replaced while in use; restart this "
                "process to open the one there now",
            )
        await self._run("SELECT count(*) FROM credentials")

    # -- the daemon ------------------------------------------------------------------

    async def running_daemon(self) -> int | None:
        """The pid of the ``harvest daemon`` serving this store (-1 when it has not
        written it yet), or ``None``: then no one serves refresh requests."""
        return await anyio.to_thread.run_sync(self._presence.holder)

    async def claim_daemon(self) -> int | None:
        """Become this store's daemon: ``None`` on success, else the running one's pid.
        The role ends with ``release_daemon``, ``aclose`` or this process."""
        return await anyio.to_thread.run_sync(self._presence.claim)

    async def release_daemon(self) -> None:
        """Give the daemon role up (nothing happens if this store does not hold it)."""
        if self._presence.held:  # most stores never hold it: no thread hop to close one
            await anyio.to_thread.run_sync(self._presence.release)

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
        if getattr(self, "_conn", None) is not None:
            warnings.warn(
                f"CredentialStore({str(self._path)!r}) was not closed; use `async with`",
                ResourceWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "closed"
        return f"<CredentialStore {str(self._path)!r} {state}>"

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
                generation = generation + 1,
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
                _encode_body(credential),
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
            (_with_cookies(rows[0][0], cookies, now), now, provider, profile, generation),
        )
        return bool(rows)

    async def _merge_into_harvest(
        self, provider: str, profile: str, cookies: Iterable[Cookie], harvested_at: float
    ) -> bool:
        # One transaction: another writer waits for it instead of being refused.
        async with self._transaction() as db:
            found = await db.execute_fetchall(
                "SELECT body FROM credentials"
                " WHERE provider = ? AND profile = ? AND harvested_at = ?",
                (provider, profile, harvested_at),
            )
            rows = builtins.list(found)
            if not rows:
                return False
            now = self._clock()
            await db.execute(
                "UPDATE credentials SET body = ?, updated_at = ?, generation = generation + 1"
                " WHERE provider = ? AND profile = ?",
                (_with_cookies(rows[0][0], cookies, now), now, provider, profile),
            )
        return True

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
            rows = await db.execute_fetchall(
                f"SELECT {_REQUEST_COLUMNS} FROM refresh_requests"
                " WHERE provider = ? AND profile = ? ORDER BY id LIMIT 1",
                (provider, profile),
            )
            if not rows:
                rows = await db.execute_fetchall(
                    "INSERT INTO refresh_requests"
                    " (provider, profile, requested_at, reason, newer_than)"
                    f" VALUES (?, ?, ?, ?, ?) RETURNING {_REQUEST_COLUMNS}",
                    (provider, profile, self._clock(), reason, newer_than),
                )
            elif newer_than is not None:
                pending = RefreshRequest(*next(iter(rows)))
                if newer_than > pending.answered_after:
                    rows = await db.execute_fetchall(
                        "UPDATE refresh_requests SET newer_than = ? WHERE id = ?"
                        f" RETURNING {_REQUEST_COLUMNS}",
                        (newer_than, pending.id),
                    )
        return RefreshRequest(*next(iter(rows)))

    async def take_refresh_requests(
        self, holder: str, *, ttl: float = 60.0
    ) -> builtins.list[RefreshRequest]:
        """Claim the pending refresh requests for ``holder`` (the daemon).

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
        rows = await self._run(
            "UPDATE refresh_requests SET taken_by = ?, taken_until = ?"
            " WHERE taken_until IS NULL OR taken_until <= ? OR taken_by = ?"
            f" OR taken_by IN ({', '.join('?' * len(dead))})"
            f" RETURNING {_REQUEST_COLUMNS}",
            (holder, now + ttl, now, holder, *dead),
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

    async def acquire(self, provider: str, profile: str, holder: str, ttl: float) -> Lease | None:
        """Take the harvest lease of (provider, profile) for ``ttl`` seconds.

        Succeeds when nobody holds it, when the holder's lease has expired or its
        holder is known dead (a process of this machine that is gone), or when
        ``holder`` already holds it. Returns the lease, or ``None`` if another holds it.
        """
        now = self._clock()
        lease = Lease(provider, profile, holder, now + ttl)
        current = await self._run(
            "SELECT holder FROM leases WHERE provider = ? AND profile = ?", (provider, profile)
        )
        dead = current[0][0] if current and holder_is_dead(current[0][0]) else None
        rows = await self._run(
            "INSERT INTO leases (provider, profile, holder, expires_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (provider, profile) DO UPDATE SET"
            " holder = excluded.holder, expires_at = excluded.expires_at"
            " WHERE leases.expires_at <= ? OR leases.holder = excluded.holder"
            " OR leases.holder IS ?"
            " RETURNING 1",
            (provider, profile, holder, lease.expires_at, now, dead),
        )
        return lease if rows else None

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend ``lease`` by ``ttl`` seconds from now; ``None`` if it was taken over."""
        renewed = dataclasses.replace(lease, expires_at=self._clock() + ttl)
        rows = await self._run(
            "UPDATE leases SET expires_at = ?"
            " WHERE provider = ? AND profile = ? AND holder = ? RETURNING 1",
            (renewed.expires_at, lease.provider, lease.profile, lease.holder),
        )
        return renewed if rows else None

    async def release(self, lease: Lease) -> bool:
        """Give ``lease`` up; returns whether it was still held."""
        rows = await self._run(
            "DELETE FROM leases WHERE provider = ? AND profile = ? AND holder = ? RETURNING 1",
            (lease.provider, lease.profile, lease.holder),
        )
        return bool(rows)

    async def holder(self, provider: str, profile: str) -> Lease | None:
        """The unexpired lease on (provider, profile) of a live holder, if any."""
        rows = await self._run(
            "SELECT provider, profile, holder, expires_at FROM leases"
            " WHERE provider = ? AND profile = ? AND expires_at > ?",
            (provider, profile, self._clock()),
        )
        return Lease(*rows[0]) if rows and not holder_is_dead(rows[0][2]) else None

    # -- cool-downs ----------------------------------------------------------------

    async def cool_down(
        self, provider: str, profile: str, until: float, reason: str | None = None
    ) -> None:
        """Rest (provider, profile) until ``until`` (a later one already set stays)."""
        await self._run(
            "INSERT INTO cooldowns (provider, profile, until, reason) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (provider, profile) DO UPDATE SET"
            " reason = CASE WHEN excluded.until > until THEN excluded.reason ELSE reason END,"
            " until = max(until, excluded.until)",
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
            await db.execute_fetchall(
                "INSERT INTO attempts (provider, profile, started, duration, ok, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*key, attempt.started, attempt.duration, int(attempt.ok), attempt.error),
            )
            await db.execute_fetchall(
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
        return [_decode_row(row) for row in rows]

    async def _run(self, sql: str, params: tuple[Any, ...] = ()) -> builtins.list[Any]:
        """One statement, with all its rows: one trip to the database thread.

        A single write statement is atomic on its own and takes the write lock up front
        (so it waits out ``busy_timeout`` rather than failing on a lock upgrade).
        """
        async with self._lock, _translate(self._path):
            return builtins.list(await self._connection().execute_fetchall(sql, params))

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreClosed
        return self._conn

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements as one transaction; the lock keeps other tasks out of it."""
        async with self._lock:
            db = self._connection()
            async with _translate(self._path), _immediate(db):
                yield db


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


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def holder_name() -> str:
    """A lease or claim holder's name for this process: host, pid and a random part
    (``holder_is_dead`` reads the first two)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` was a process of this machine that no longer runs.

    A holder on another machine, or of another form, is never known dead here: its
    lease or claim lapses at its expiry instead.
    """
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (any user's)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's; or no such pid at all, never "dead" by mistake
    return True


def _create_private_file(path: Path) -> None:
    """Create ``path`` (mode 0600) and its missing directories (0700) if absent.

    Anything there that is not a regular file (a directory, ``/dev/null``, a FIFO) or
    a path the system refuses is ``BadLocation`` before anything is created or changed.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise BadLocation(str(path), _reason(exc)) from None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise BadLocation(str(path), f"it is {kind}, not a database file")
        return
    try:
        missing = [p for p in reversed(path.parents) if not p.exists()]
        for directory in missing:
            with suppress(FileExistsError):
                directory.mkdir(mode=0o700)
        # If another process creates it first, it has set the mode.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise BadLocation(str(path), f"cannot create it: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


async def _prepare(conn: aiosqlite.Connection, path: Path, busy_timeout: float) -> None:
    """Check the file, then set the connection up and migrate the schema."""
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    # Checks first, while nothing has been written: a foreign file is left untouched.
    # One statement, so both values come from one snapshot even while another process
    # is creating the schema.
    async with conn.execute(
        "SELECT (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_schema)"
    ) as cursor:
        version, tables = await cursor.fetchone() or (0, 0)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(str(path), version, SCHEMA_VERSION)
    if version == 0 and tables:
        # Another program's SQLite database: adding our tables to it would be rude.
        raise NotADatabase(str(path))
    if str(await _scalar(conn, "PRAGMA journal_mode")).lower() != "wal":
        await _enable_wal(conn, path, busy_timeout)
    # WAL with synchronous=NORMAL survives any process crash; only a power cut can lose
    # the last commits, which a re-harvest restores (https://sqlite.org/wal.html).
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    if version < SCHEMA_VERSION:
        await _migrate(conn)
    # Only now is the file known to be a regular file holding our schema.
    await anyio.to_thread.run_sync(_restrict_mode, path)


async def _enable_wal(conn: aiosqlite.Connection, path: Path, busy_timeout: float) -> None:
    """Switch a new database to WAL (persistent: done once per file).

    The switch needs the file to itself and SQLite reports "locked" at once, without
    calling the busy handler, when another process opens the new file at the same
    moment: retry until ``busy_timeout``.
    """
    delay, deadline = 0.005, anyio.current_time() + busy_timeout
    while True:
        try:
            mode = await _scalar(conn, "PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            if anyio.current_time() > deadline:
                raise StoreBusy from exc
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.2)
    if str(mode).lower() != "wal":
        # WAL needs shared memory, which network file systems do not give.
        raise StorageError(
            f"{path}: SQLite refused WAL mode (journal mode is {mode}); keep the "
            "database on a local file system"
        )


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with _immediate(conn):
        # Read again under the write lock: another process may have migrated meanwhile.
        version = await _scalar(conn, "PRAGMA user_version")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                await conn.execute(statement)
        await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@asynccontextmanager
async def _immediate(db: aiosqlite.Connection) -> AsyncIterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction, committed unless the body raises.

    A cancelled or failed body is rolled back (shielded, so the connection is never
    left inside a transaction); a commit, once begun, is finished.
    """
    try:
        await db.execute_fetchall("BEGIN IMMEDIATE")
        yield
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _rollback(db)
        raise
    with anyio.CancelScope(shield=True):
        await db.execute_fetchall("COMMIT")


def _restrict_mode(path: Path) -> None:
    """Make the database readable by its owner only (it holds cookies and tokens)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)


async def _scalar(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    return row[0] if row is not None else None


async def _rollback(db: aiosqlite.Connection) -> None:
    # Fails when no transaction is open (BEGIN itself failed): nothing to undo then.
    with suppress(sqlite3.OperationalError):
        await db.execute("ROLLBACK")


# SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = (
    10,
    11,
    13,
    14,
    26,
)


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


@asynccontextmanager
async def _translate(path: Path) -> AsyncIterator[None]:
    """SQLite's errors as the store's: what went wrong with the file, in one line."""
    try:
        yield
    except sqlite3.Error as exc:
        # The diagnosis asks the file system (statvfs): not on the event loop.
        error = await anyio.to_thread.run_sync(_storage_error, exc, str(path))
        raise error from exc


def _storage_error(exc: sqlite3.Error, path: str) -> StorageError:
    code = getattr(exc, "sqlite_errorcode", -1) & 0xFF
    said = str(exc)
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in said or "busy" in said:
        return StoreBusy()
    if code == _SQLITE_NOTADB:
        return NotADatabase(path)
    if code == _SQLITE_CORRUPT:
        return StoreUnavailable(
            path,
            f"the database is damaged (SQLite: {said}); move it aside and run "
            "`harvest refresh` to make a new one",
        )
    if code in (_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_IOERR):
        # SQLite often says only "disk I/O error": the file system tells which it is.
        try:
            fs = os.statvfs(Path(path).parent)
        except OSError:
            fs = None
        if code == _SQLITE_FULL or (fs is not None and fs.f_bavail == 0):
            return StoreUnavailable(
                path, "the disk is full (the last write did not happen); free some space"
            )
        if fs is not None and fs.f_flag & os.ST_RDONLY:
            return StoreUnavailable(
                path,
                "its file system is read-only; SQLite needs to write beside the database "
                "(WAL), even to read it: move the database to a writable place",
            )
        return StoreUnavailable(
            path,
            f"SQLite cannot open or write it ({said}); check that its file system is "
            "writable, not full, and that this user may write the file and its directory",
        )
    return StoreUnavailable(path, f"SQLite failed: {said}")


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


def _decode_row(row: Any) -> Credential:
    provider, profile, generation, status, last_error, harvested_at, expires_at, body = row
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
