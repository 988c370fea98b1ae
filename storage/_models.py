"""The credential model: what a harvest collects and the store keeps.

All models are frozen dataclasses. Times are Unix seconds (``float``) so that the
store, the daemon's schedule and the tests' fake clock speak the same unit.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._cookies import Cookie, cookies_for
from ._redact import redacted_repr, secret

__all__ = [
    "Attempt",
    "Credential",
    "CredentialStatus",
    "Lease",
    "RefreshRequest",
]


class CredentialStatus(enum.StrEnum):
    """How usable a stored credential is believed to be."""

    FRESH = "fresh"  # harvested and not yet rejected
    STALE = "stale"  # rejected once or past its expiry: harvest again
    INVALID = "invalid"  # unusable until a harvest succeeds (e.g. a failed harvest)


@dataclass(frozen=True, repr=False)
class Credential:
    """Everything a later request needs to pass as the browser that harvested it.

    ``headers`` are the headers the browser really sent, in wire order; ``tokens`` are
    values read from the page (e.g. a ZeroGPU token). ``generation`` is assigned by the
    store and grows with every write of this (provider, profile).
    """

    provider: str
    profile: str = "default"
    user_agent: str = ""
    browser_name: str = ""
    browser_version: str = ""
    fingerprint: Mapping[str, Any] | None = None  # TLS and HTTP/2 as captured
    impersonate: str | None = None  # curl_cffi target picked for the browser version
    headers: tuple[tuple[str, str], ...] = secret(default=())
    cookies: tuple[Cookie, ...] = ()
    tokens: Mapping[str, str] = secret(default_factory=dict)
    proxy: str | None = field(default=None, metadata={"url": True})
    harvested_at: float = 0.0
    expires_at: float | None = None
    generation: int = 0
    status: CredentialStatus = CredentialStatus.FRESH
    last_error: str | None = None

    __repr__ = redacted_repr

    def is_expired(self, now: float | None = None) -> bool:
        """Whether ``expires_at`` has passed."""
        if self.expires_at is None:
            return False
        return self.expires_at <= (time.time() if now is None else now)

    def is_usable(self, now: float | None = None) -> bool:
        """Whether it can be used now: fresh (not marked stale or invalid) and not expired."""
        return self.status == CredentialStatus.FRESH and not self.is_expired(now)

    def cookies_for(self, url: str, *, now: float | None = None) -> list[Cookie]:
        """The cookies a request to ``url`` carries, in the ``Cookie`` header's order."""
        return cookies_for(self.cookies, url, now=now)


@dataclass(frozen=True, repr=False)
class Lease:
    """The right of one process (``holder``) to harvest one (provider, profile); a
    ``keeper`` lease is a daemon's right to keep it (schedule its harvests, serve its
    refresh requests), which one daemon of a fleet holds at a time."""

    provider: str
    profile: str
    holder: str
    expires_at: float
    keeper: bool = False

    __repr__ = redacted_repr


@dataclass(frozen=True, repr=False)
class Cooldown:
    """A profile the site rate-limited: no process sends with it before ``until``."""

    provider: str
    profile: str
    until: float
    reason: str | None = None

    __repr__ = redacted_repr


@dataclass(frozen=True, repr=False)
class RefreshRequest:
    """A client's request that the daemon harvest a (provider, profile) again."""

    id: int
    provider: str
    profile: str
    requested_at: float
    reason: str | None = None
    taken_by: str | None = None
    newer_than: float | None = None  # the asker's credential's harvested_at

    @property
    def answered_after(self) -> float:
        """A usable credential harvested after this answers the request."""
        return self.requested_at if self.newer_than is None else self.newer_than

    __repr__ = redacted_repr


@dataclass(frozen=True, repr=False)
class Attempt:
    """One harvest attempt, successful or not, as kept in the history."""

    provider: str
    profile: str
    started: float
    duration: float
    ok: bool
    error: str | None = None

    __repr__ = redacted_repr
