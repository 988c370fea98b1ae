"""The credential store: an SQLite file (aiosqlite) or a PostgreSQL database (asyncpg),
shared safely between processes (and, on PostgreSQL, machines)."""

from __future__ import annotations

from ._cookies import (
    Cookie,
    canonical_host,
    cookies_for,
    domain_match,
    is_secure,
    merged_cookies,
    path_match,
)
from ._errors import (
    BadLocation,
    NotADatabase,
    SchemaTooNew,
    StorageError,
    StoreBusy,
    StoreClosed,
    StoreKeyError,
    StoreUnavailable,
)
from ._holders import holder_is_dead, holder_name, pid_alive
from ._migrate import Copied, copy_store
from ._models import Attempt, Cooldown, Credential, CredentialStatus, Lease, RefreshRequest
from ._redact import REDACTED, redact_url
from ._schema import SCHEMA_VERSION
from ._store import CredentialStore, describe_database, is_database_url
from ._suffixes import is_public_suffix

__all__ = [
    "REDACTED",
    "SCHEMA_VERSION",
    "Attempt",
    "BadLocation",
    "Cookie",
    "Cooldown",
    "Copied",
    "Credential",
    "CredentialStatus",
    "CredentialStore",
    "Lease",
    "NotADatabase",
    "RefreshRequest",
    "SchemaTooNew",
    "StorageError",
    "StoreBusy",
    "StoreClosed",
    "StoreKeyError",
    "StoreUnavailable",
    "canonical_host",
    "cookies_for",
    "copy_store",
    "describe_database",
    "domain_match",
    "holder_is_dead",
    "holder_name",
    "is_database_url",
    "is_public_suffix",
    "is_secure",
    "merged_cookies",
    "path_match",
    "pid_alive",
    "redact_url",
]
