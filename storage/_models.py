"""The credential model: what a harvest collects and the store keeps.

All models are frozen dataclasses. Times are Unix seconds (``float``) so that the
store, the daemon's schedule and the tests' fake clock speak the same unit.
"""

from __future__ import annotations

import enum
import ipaddress
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._redact import redacted_repr, secret

__all__ = [
    "Attempt",
    "Cookie",
    "Credential",
    "CredentialStatus",
    "Lease",
    "RefreshRequest",
    "merged_cookies",
]

# Schemes whose requests may carry ``Secure`` cookies (RFC 6265 section 5.4).
_SECURE_SCHEMES = frozenset({"https", "wss"})


class CredentialStatus(enum.StrEnum):
    """How usable a stored credential is believed to be."""

    FRESH = "fresh"  # harvested and not yet rejected
    STALE = "stale"  # rejected once or past its expiry: harvest again
    INVALID = "invalid"  # unusable until a harvest succeeds (e.g. a failed harvest)


@dataclass(frozen=True, repr=False)
class Cookie:
    """One cookie with its attributes, as the browser held it.

    ``domain`` is stored lower-case without a leading dot; a leading dot in the input
    means a domain cookie (``host_only=False``), as CDP reports them.
    """

    name: str
    value: str = secret()
    domain: str = ""
    path: str = "/"
    expires: float | None = None  # Unix seconds; None for a session cookie
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None  # "Strict", "Lax", "None" or unset
    host_only: bool = True

    def __post_init__(self) -> None:
        domain = self.domain.lower()
        if domain.startswith("."):
            object.__setattr__(self, "host_only", False)
            domain = domain.lstrip(".")
        object.__setattr__(self, "domain", domain)
        if not self.path.startswith("/"):
            object.__setattr__(self, "path", "/")

    __repr__ = redacted_repr

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity of a cookie in a jar: (name, domain, path)."""
        return (self.name, self.domain, self.path)

    def is_expired(self, now: float | None = None) -> bool:
        """Whether the cookie's expiry has passed (session cookies never expire here)."""
        if self.expires is None:
            return False
        return self.expires <= (time.time() if now is None else now)

    def matches(self, url: str, *, now: float | None = None) -> bool:
        """Whether a request to ``url`` should carry this cookie (RFC 6265 section 5.4)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or self.is_expired(now):
            return False
        if self.secure and parts.scheme.lower() not in _SECURE_SCHEMES:
            return False
        return self.domain_matches(host) and _path_matches(parts.path or "/", self.path)

    def domain_matches(self, host: str) -> bool:
        """Whether a request to ``host`` is in this cookie's domain (RFC 6265 section 5.1.3)."""
        return _domain_matches(host.lower(), self.domain, host_only=self.host_only)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, the value included: for storage only."""
        return {
            "name": self.name,
            "value": self.value,
            "domain": self.domain,
            "path": self.path,
            "expires": self.expires,
            "secure": self.secure,
            "http_only": self.http_only,
            "same_site": self.same_site,
            "host_only": self.host_only,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cookie:
        """The inverse of ``to_dict``."""
        return cls(**data)


def merged_cookies(
    jar: Iterable[Cookie], updates: Iterable[Cookie], now: float
) -> tuple[Cookie, ...]:
    """``jar`` with ``updates`` applied as a browser would: a cookie replaces the one
    with the same (name, domain, path); an expired one deletes it."""
    merged = {c.key: c for c in jar}
    for cookie in updates:
        if cookie.is_expired(now):
            merged.pop(cookie.key, None)
        else:
            merged[cookie.key] = cookie
    return tuple(merged.values())


def _domain_matches(host: str, domain: str, *, host_only: bool) -> bool:
    if host == domain:
        return True
    if host_only or not host.endswith("." + domain):
        return False
    # A domain cookie never reaches an IP address by suffix (RFC 6265 section 5.1.3).
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


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
        """The cookies a request to ``url`` carries, longest path first (RFC 6265 5.4)."""
        chosen = [c for c in self.cookies if c.matches(url, now=now)]
        chosen.sort(key=lambda c: len(c.path), reverse=True)
        return chosen


@dataclass(frozen=True, repr=False)
class Lease:
    """The right of one process (``holder``) to harvest one (provider, profile)."""

    provider: str
    profile: str
    holder: str
    expires_at: float

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
