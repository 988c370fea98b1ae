"""The credential store: SQLite through aiosqlite, shared safely between processes."""

from __future__ import annotations

from ._errors import NotADatabase, SchemaTooNew, StorageError, StoreBusy, StoreClosed
from ._models import (
    Attempt,
    Cookie,
    Credential,
    CredentialStatus,
    Lease,
    RefreshRequest,
    merged_cookies,
)
from ._redact import REDACTED, redact_url
from ._schema import SCHEMA_VERSION
from ._store import CredentialStore

__all__ = [
    "REDACTED",
    "SCHEMA_VERSION",
    "Attempt",
    "Cookie",
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
    "merged_cookies",
    "redact_url",
]
