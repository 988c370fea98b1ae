"""The SQLite engine of the credential store: one file shared by the daemon, scripts
and clients on one machine. This is the only module that imports ``aiosqlite``.

Concurrency rests on SQLite itself: WAL mode lets readers run beside a writer, and
``busy_timeout`` makes a writer wait for another instead of failing. Most operations
are one statement (atomic on its own, one trip to aiosqlite's thread); the few that
need several run in ``BEGIN IMMEDIATE``, which takes the write lock up front so two
processes never deadlock upgrading a read lock. Inside one process an ``anyio.Lock``
keeps tasks from interleaving on the shared connection. The daemon's presence is a
lock on a file beside the database (``_presence.py``).
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from ._errors import (
    BadLocation,
    NotADatabase,
    SchemaTooNew,
    StorageError,
    StoreBusy,
    StoreClosed,
    StoreUnavailable,
)
from ._presence import DaemonPresence
from ._schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SqliteEngine"]


class _Transaction:
    """Statements inside one ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        return builtins.list(await self._conn.execute_fetchall(sql, params))


class SqliteEngine:
    """One open database file."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self.where = str(path)  # how errors and reprs name the store
        self._conn: aiosqlite.Connection | None = conn
        self._lock = anyio.Lock()
        self._identity: tuple[int, int] | None = None  # the file opened: (device, inode)
        self._presence = DaemonPresence(path)

    @classmethod
    async def open(cls, path: Path, busy_timeout: float) -> SqliteEngine:
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
        engine = cls(path, conn)
        engine._identity = await anyio.to_thread.run_sync(_file_identity, path)
        return engine

    @property
    def closed(self) -> bool:
        return self._conn is None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        with anyio.CancelScope(shield=True):
            await self.release_daemon()
            if conn is not None:
                await conn.close()

    async def check(self) -> None:
        """``StoreUnavailable`` unless the file is still the one opened and answers."""
        found = await anyio.to_thread.run_sync(_file_identity, self.path)
        if self._identity is not None and found != self._identity:
            raise StoreUnavailable(
                str(self.path),
                "the database file was removed or replaced while in use; restart this "
                "process to open the one there now",
            )
        await self.run("SELECT count(*) FROM credentials")

    async def run(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        """One statement, with all its rows: one trip to the database thread.

        A single write statement is atomic on its own and takes the write lock up front
        (so it waits out ``busy_timeout`` rather than failing on a lock upgrade).
        """
        async with self._lock, _translate(self.path):
            return builtins.list(await self._connection().execute_fetchall(sql, params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        """Several statements as one transaction; the lock keeps other tasks out of it."""
        async with self._lock:
            db = self._connection()
            async with _translate(self.path), _immediate(db):
                yield _Transaction(db)

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreClosed
        return self._conn

    async def listen(self, heard: Callable[[str, str], None]) -> bool:
        """SQLite announces nothing: its clients poll (``CredentialStore.changes``)."""
        return False

    def unlisten(self, heard: Callable[[str, str], None]) -> None:
        pass

    # -- the daemon's presence: a lock on a file beside the database -----------------

    async def running_daemon(self) -> int | None:
        return await anyio.to_thread.run_sync(self._presence.holder)

    async def claim_daemon(self) -> int | None:
        return await anyio.to_thread.run_sync(self._presence.claim)

    async def release_daemon(self) -> None:
        if self._presence.held:  # most stores never hold it: no thread hop to close one
            await anyio.to_thread.run_sync(self._presence.release)


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


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
