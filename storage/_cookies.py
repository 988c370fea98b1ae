"""The cookie model of RFC 6265bis section 5: a cookie, its matching rules, the jar.

A jar is a sequence of ``Cookie`` in creation order, so its order is the tie-break
the retrieval algorithm (section 5.8.3) asks for, with no clock stored. Chromium
reports its cookies in that order (measured through CDP with Chromium 156), and where
it differs from the RFC, the jar follows Chromium: a cookie set again with the same
value keeps its creation time (its place), one set with a new value is a new cookie
and goes last (the RFC would keep the place, section 5.7 step 23).
How a ``Set-Cookie`` becomes a ``Cookie`` is the client's (``client/_cookies.py``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._redact import redacted_repr, secret
from ._suffixes import is_public_suffix

__all__ = [
    "Cookie",
    "canonical_host",
    "cookies_for",
    "domain_match",
    "is_secure",
    "merged_cookies",
    "path_match",
]

_SECURE_SCHEMES = frozenset({"https", "wss"})


@dataclass(frozen=True, repr=False)
class Cookie:
    """One cookie with its attributes, as the browser held it.

    ``domain`` is stored lower-case without its leading dot; one leading dot in the
    input means a domain cookie (``host_only=False``), as CDP reports them. A name may
    be empty: ``Set-Cookie: token`` stores a name-less cookie sent as ``token``.
    """

    name: str
    value: str = secret()
    domain: str = ""
    path: str = "/"
    expires: float | None = None  # Unix seconds; None for a session cookie
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None  # "Strict", "Lax", "None", or None for "Default"
    host_only: bool = True

    def __post_init__(self) -> None:
        domain = self.domain.lower()
        if domain.startswith("."):
            object.__setattr__(self, "host_only", False)
            domain = domain[1:]
        object.__setattr__(self, "domain", domain)
        if not self.path.startswith("/"):
            object.__setattr__(self, "path", "/")

    __repr__ = redacted_repr

    @property
    def key(self) -> tuple[str, str, bool, str]:
        """The identity of a cookie in a jar (section 5.7 step 23): name, domain,
        host-only flag and path."""
        return (self.name, self.domain, self.host_only, self.path)

    def is_expired(self, now: float | None = None) -> bool:
        """Whether the cookie's expiry has passed (session cookies never expire here)."""
        if self.expires is None:
            return False
        return self.expires <= (time.time() if now is None else now)

    def matches(self, url: str, *, now: float | None = None) -> bool:
        """Whether a request to ``url`` carries this cookie (section 5.8.3 step 3)."""
        return bool(cookies_for((self,), url, now=now))

    def domain_matches(self, host: str) -> bool:
        """Whether a request to ``host`` is in this cookie's domain."""
        canonical = canonical_host(host)
        return canonical is not None and self._reaches(canonical)

    def _reaches(self, host: str) -> bool:
        if self.host_only:
            return host == self.domain
        return domain_match(host, self.domain) and not is_public_suffix(self.domain)

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


def cookies_for(jar: Iterable[Cookie], url: str, *, now: float | None = None) -> list[Cookie]:
    """The cookies of ``jar`` a request to ``url`` carries, in the order of the
    ``Cookie`` header: longer paths first, then earlier created (section 5.8.3)."""
    try:
        parts = urlsplit(url)
        host = canonical_host(parts.hostname or "")
    except ValueError:
        return []  # no host to match: a browser sends nothing
    if not host:
        return []
    secure = is_secure(parts.scheme, host)
    path = parts.path or "/"
    moment = time.time() if now is None else now
    chosen = [
        c
        for c in jar
        if (secure or not c.secure)
        and not c.is_expired(moment)
        and c._reaches(host)
        and path_match(path, c.path)
    ]
    chosen.sort(key=lambda c: -len(c.path))  # stable: equal paths keep creation order
    return chosen


def merged_cookies(
    jar: Iterable[Cookie], updates: Iterable[Cookie], now: float
) -> tuple[Cookie, ...]:
    """``jar`` with ``updates`` stored as Chromium stores them (section 5.7 steps 23
    and 24): a cookie replaces the one with the same key, in its place if the value is
    unchanged, else last like a new one; every expired cookie is evicted (a past
    expiry is how a site deletes)."""
    merged = {c.key: c for c in jar}
    for cookie in updates:
        old = merged.get(cookie.key)
        if old is not None and old.value != cookie.value:
            del merged[cookie.key]  # a new creation time: it sorts after the others
        merged[cookie.key] = cookie
    return tuple(c for c in merged.values() if not c.is_expired(now))


def canonical_host(host: str) -> str | None:
    """The canonicalized host name (section 5.1.2): lower case, A-labels; ``None``
    when it has none (a label IDNA refuses)."""
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def is_secure(scheme: str, host: str) -> bool:
    """Whether a URL of ``scheme`` and canonical ``host`` is a "secure" connection:
    a potentially trustworthy origin (TLS, or this machine), as RFC 6265bis counts one."""
    if scheme.lower() in _SECURE_SCHEMES or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def domain_match(string: str, domain: str) -> bool:
    """Whether ``string`` domain-matches ``domain`` (section 5.1.3; both canonical)."""
    if string == domain:
        return True
    if not string.endswith(domain) or string[-len(domain) - 1 : -len(domain)] != ".":
        return False
    try:
        ipaddress.ip_address(string)
    except ValueError:
        return True  # a host name, not an IP address: suffixes count
    return False


def path_match(request_path: str, cookie_path: str) -> bool:
    """Whether ``request_path`` path-matches ``cookie_path`` (section 5.1.4)."""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
