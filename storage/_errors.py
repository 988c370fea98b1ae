"""Errors raised by the credential store.

    StorageError
    ├── BadLocation       the path cannot hold a database (a directory, a device, ...)
    ├── NotADatabase      the file exists but is not an SQLite database
    ├── SchemaTooNew      the database was written by a newer session-harvest
    ├── StoreBusy         another process held the write lock past the busy timeout
    ├── StoreUnavailable  the file system or the server refused (full, read-only, ...)
    ├── StoreKeyError     an encrypted store opened without its key, or with another
    └── StoreClosed       the store was used after ``aclose()``

Messages name the file and say what to do next; they never hold a secret.
"""

from __future__ import annotations

__all__ = [
    "BadLocation",
    "NotADatabase",
    "SchemaTooNew",
    "StorageError",
    "StoreBusy",
    "StoreClosed",
    "StoreKeyError",
    "StoreUnavailable",
]


class StorageError(Exception):
    """Root of the store's errors."""


class BadLocation(StorageError):
    """The configured path cannot be a database file; nothing there was touched."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(
            f"{path or repr(path)}: {why}; it was left unchanged. Point HARVEST_DB or "
            "`database` in the config at a file path."
        )
        self.path = path


class StoreUnavailable(StorageError):
    """SQLite could not read or write the file: the disk or the file, not the data."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path


class NotADatabase(StorageError):
    """The path holds something other than an SQLite database."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is not a session-harvest database (SQLite said: file is not a "
            "database); it was left unchanged. Move it aside or point HARVEST_DB or "
            "`database` in the config at another file."
        )
        self.path = path


class SchemaTooNew(StorageError):
    """The database schema is newer than this code understands."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, but this session-harvest knows only up "
            f"to {known}; it was left unchanged. Upgrade session-harvest, or use another "
            "database file."
        )
        self.path = path
        self.found = found
        self.known = known


class StoreBusy(StorageError):
    """A write waited longer than the busy timeout for another process's lock."""

    def __init__(self) -> None:
        super().__init__(
            "the credential database stayed locked by another process past the busy "
            "timeout; retry, or look for a stuck session-harvest process"
        )


class StoreClosed(StorageError, RuntimeError):
    """An operation was attempted on a closed store."""

    def __init__(self) -> None:
        super().__init__(
            "the credential store is closed; open a new one with CredentialStore.open()"
        )


class StoreKeyError(StorageError):
    """The store's credentials are encrypted and the key given (or none) does not open
    them; nothing was read or changed. The message never holds the key."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
