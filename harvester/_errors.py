"""Errors raised by the harvester.

    HarvestError
    ├── BrowserNotFound        no Chromium to run; says how to install one
    ├── BrowserFailed          Chromium would not start, or crashed during a harvest
    ├── HarvestTimeout         the site never became ready (also a TimeoutError)
    ├── PageError              the page could not be opened or read (a token missing...)
    ├── HarvestBusy            another process kept harvesting the same thing too long
    ├── ProxyFailed            the upstream proxy refused us (407), was unreachable or
    │                          unresolvable, or refused the tunnel; ``kind`` says which
    └── DaemonRunning          a second daemon on the same database

Messages name the provider and profile and never hold a secret.
"""

from __future__ import annotations

__all__ = [
    "BrowserFailed",
    "BrowserNotFound",
    "DaemonRunning",
    "HarvestBusy",
    "HarvestError",
    "HarvestTimeout",
    "PageError",
    "ProxyFailed",
]


class HarvestError(Exception):
    """Root of the harvester's errors."""


class BrowserNotFound(HarvestError):
    """No Chromium executable was found."""


class BrowserFailed(HarvestError):
    """Chromium did not start, or died while in use."""


class HarvestTimeout(HarvestError, TimeoutError):
    """The site did not become ready in time; the message says what was awaited."""


class PageError(HarvestError):
    """The page failed to load, or something the recipe reads from it is missing."""


class ProxyFailed(HarvestError):
    """The upstream proxy failed the browser's tunnel. ``kind``: ``"auth"`` (it
    answered 407: wrong user name or password), ``"unreachable"`` (no connection),
    ``"dns"`` (its name does not resolve), ``"refused"`` (it refused the tunnel itself)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class HarvestBusy(HarvestError):
    """Another process held the harvest lease for longer than we could wait."""


class DaemonRunning(HarvestError):
    """A daemon already serves this database."""
