"""Harvest recipes: what the harvester does on a provider's site, declared as data.

A provider module declares one ``HarvestRecipe``; the harvester interprets it. Nothing
here drives a browser: the recipe only says which page to open, what "ready" means,
which challenge widgets to click, which request's headers to keep, which page tokens to
read and how long the result lasts.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from storage import Cookie

__all__ = ["HarvestRecipe", "Ready", "Token", "Widget", "jwt_expiry"]


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
class Widget:
    """An interactive challenge the harvest clicks like a person (Turnstile's checkbox).

    ``frame``: a regex for the URL of the iframe it lives in (cross-origin or not);
    ``target``: a CSS selector for what to click inside it, found through shadow roots
    (closed ones too). It is clicked with real input events (pointer moves, then press
    and release) once it appears, and again every ``retry_after`` seconds while the page
    is not ready, ``clicks`` times at most. ``name`` is how errors call it.
    """

    name: str
    frame: str
    target: str
    retry_after: float = 8.0
    clicks: int = 3

    def __post_init__(self) -> None:
        re.compile(self.frame)
        if self.clicks < 1 or self.retry_after <= 0:
            raise ValueError(f"widget {self.name!r}: clicks and retry_after must be positive")


@dataclass(frozen=True)
class HarvestRecipe:
    """How to harvest one provider.

    ``origins`` are the URLs whose cookies the credential keeps (default: the start
    page's origin). ``capture`` is a regex for the URL of the page's own API request
    whose headers the client will replay; without it, the headers of the page load
    itself are kept. ``lifetime`` is how long a harvest is good for (seconds);
    ``expiry_cookie`` a cookie whose own expiry, and ``expiry_token`` a token (a JWT)
    whose ``exp`` claim, when earlier, ends it sooner. ``keep_cookies`` names cookies
    the user gave the store (a login): each harvest starts the browser with them.
    ``widgets`` are interactive challenges to click when they appear.
    """

    start_url: str
    origins: tuple[str, ...] = ()
    ready: Ready = field(default_factory=Ready)
    capture: str | None = None
    tokens: tuple[Token, ...] = ()
    lifetime: float | None = None
    expiry_cookie: str | None = None
    expiry_token: str | None = None
    keep_cookies: tuple[str, ...] = ()
    widgets: tuple[Widget, ...] = ()
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

    def expires_at(
        self,
        harvested_at: float,
        cookies: Iterable[Cookie] = (),
        tokens: Mapping[str, str] | None = None,
    ) -> float | None:
        """When a harvest made at ``harvested_at`` that collected ``cookies`` and
        ``tokens`` stops being good: the earliest of its limits, ``None`` for none."""
        candidates = [] if self.lifetime is None else [harvested_at + self.lifetime]
        candidates += [
            c.expires for c in cookies if c.name == self.expiry_cookie and c.expires is not None
        ]
        if self.expiry_token is not None and tokens:
            exp = jwt_expiry(tokens.get(self.expiry_token, ""))
            if exp is not None:
                candidates.append(exp)
        return min(candidates) if candidates else None


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (Unix seconds), ``None`` if it is not one or has none.

    The signature is not checked: only the site can, and it says so by refusing.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None
