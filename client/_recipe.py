"""Harvest recipes: what the harvester does on a provider's site, declared as data.

A provider module declares one ``HarvestRecipe``; the harvester interprets it. Nothing
here drives a browser: the recipe only says which page to open, what "ready" means,
which request's headers to keep, which page tokens to read and how long the result
lasts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["HarvestRecipe", "Ready", "Token"]


@dataclass(frozen=True)
class Ready:
    """What "the site accepted the browser" means; every condition given must hold.

    ``title_not``: the page title no longer contains this text (an interstitial's title).
    ``selector``: an element matching this CSS selector exists.
    ``cookie``: a cookie of this name is set for the recipe's origins.
    ``request``: the page made a request whose URL matches this regex.
    """

    title_not: str | None = None
    selector: str | None = None
    cookie: str | None = None
    request: str | None = None

    def __post_init__(self) -> None:
        if self.request is not None:
            re.compile(self.request)


@dataclass(frozen=True)
class Token:
    """A value read from the page once it is ready, kept in the credential's tokens.

    Exactly one of ``regex`` (searched in the page HTML; group ``1`` or the whole match
    is the value) and ``js`` (an expression that evaluates to a string) is given.
    """

    name: str
    regex: str | None = None
    js: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if (self.regex is None) == (self.js is None):
            raise ValueError(f"token {self.name!r}: give exactly one of regex= and js=")
        if self.regex is not None:
            re.compile(self.regex)


@dataclass(frozen=True)
class HarvestRecipe:
    """How to harvest one provider.

    ``origins`` are the URLs whose cookies the credential keeps (default: the start
    page's origin). ``capture`` is a regex for the URL of the page's own API request
    whose headers the client will replay; without it, the headers of the page load
    itself are kept. ``lifetime`` is how long a harvest is good for (seconds), and
    ``expiry_cookie`` a cookie whose own expiry, when earlier, ends it sooner.
    """

    start_url: str
    origins: tuple[str, ...] = ()
    ready: Ready = field(default_factory=Ready)
    capture: str | None = None
    tokens: tuple[Token, ...] = ()
    lifetime: float | None = None
    expiry_cookie: str | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.start_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"start_url must be an http(s) URL, got {self.start_url!r}")
        if not self.origins:
            object.__setattr__(self, "origins", (f"{parts.scheme}://{parts.netloc}/",))
        if self.capture is not None:
            re.compile(self.capture)
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    def expires_at(self, harvested_at: float, cookie_expiry: float | None) -> float | None:
        """When a harvest made at ``harvested_at`` stops being good."""
        candidates = [] if self.lifetime is None else [harvested_at + self.lifetime]
        if cookie_expiry is not None:
            candidates.append(cookie_expiry)
        return min(candidates) if candidates else None
