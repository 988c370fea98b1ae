"""What ``harvest status`` shows: one row per credential, never a secret."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from client import describe_fingerprint, shorten
from fingerprint import Fingerprint
from storage import Cooldown, Credential, redact_url

__all__ = ["relative_time", "status_json", "status_rows", "status_table"]

_COLUMNS = (
    "PROVIDER",
    "PROFILE",
    "STATUS",
    "HARVESTED",
    "EXPIRES",
    "BROWSER",
    "FINGERPRINT",
    "LAST ERROR",
)


# Which proxy the configuration gives a provider now (``Config.proxy_for``).
ProxyFor = Callable[[str], str | None]

_PROXY_NOTE = (
    "* harvested through another proxy than the config names now: the client keeps "
    "that exit (its clearance is bound to it) until the next harvest"
)


def status_rows(
    credentials: Sequence[Credential],
    now: float,
    proxy_for: ProxyFor | None = None,
    cooldowns: Sequence[Cooldown] = (),
) -> list[dict[str, Any]]:
    """The public fields of each credential: the only ones status may print."""
    resting = {(c.provider, c.profile): c.until for c in cooldowns if c.until > now}
    return [
        {
            "provider": c.provider,
            "profile": c.profile,
            "status": "expired" if c.status == "fresh" and c.is_expired(now) else str(c.status),
            "generation": c.generation,
            "harvested_at": _iso(c.harvested_at),
            "expires_at": _iso(c.expires_at),
            "browser": f"{c.browser_name} {c.browser_version}".strip() or None,
            "impersonate": c.impersonate,
            "fingerprint": describe_fingerprint(c),
            "ja4": _ja4(c),
            "cookies": len(c.cookies),
            "last_error": c.last_error,
            "proxy_changed": proxy_for is not None
            and _shown(proxy_for(c.provider)) != _shown(c.proxy),
            # Rate limited: no client sends with it before this.
            "cooling_until": _iso(resting.get((c.provider, c.profile))),
        }
        for c in credentials
    ]


def status_json(
    credentials: Sequence[Credential],
    now: float | None = None,
    proxy_for: ProxyFor | None = None,
    cooldowns: Sequence[Cooldown] = (),
) -> str:
    """``harvest status --json``: a JSON list, one object per credential."""
    moment = time.time() if now is None else now
    return json.dumps(status_rows(credentials, moment, proxy_for, cooldowns), indent=2)


def status_table(
    credentials: Sequence[Credential],
    now: float | None = None,
    proxy_for: ProxyFor | None = None,
    cooldowns: Sequence[Cooldown] = (),
) -> str:
    """``harvest status``: an aligned text table."""
    now = time.time() if now is None else now
    listed = status_rows(credentials, now, proxy_for, cooldowns)
    resting = {(c.provider, c.profile): c.until for c in cooldowns}
    rows = [
        (
            row["provider"],
            row["profile"],
            row["status"]
            + ("*" if row["proxy_changed"] else "")
            + (
                f" (rate limited, free {relative_time(resting[c.provider, c.profile], now)})"
                if row["cooling_until"]
                else ""
            ),
            relative_time(c.harvested_at, now),
            relative_time(c.expires_at, now),
            row["browser"] or "-",
            row["fingerprint"],
            shorten(row["last_error"] or "-", 60),
        )
        for row, c in zip(listed, credentials, strict=True)
    ]
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(_COLUMNS, *rows, strict=False)
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (_COLUMNS, *rows)
    ]
    if any(row["proxy_changed"] for row in listed):
        lines.append(_PROXY_NOTE)
    return "\n".join(lines)


def _shown(proxy: str | None) -> str | None:
    # Credentials record their proxy without its password.
    return redact_url(proxy) if proxy is not None else None


def _ja4(credential: Credential) -> str | None:
    fingerprint = Fingerprint.from_stored(credential.fingerprint)
    return fingerprint.ja4 if fingerprint is not None else None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def relative_time(timestamp: float | None, now: float) -> str:
    """``"5m ago"`` or ``"in 2h"``; ``"-"`` when unknown."""
    if timestamp is None:
        return "-"
    delta = timestamp - now
    amount = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size:
            text = f"{int(amount // size)}{unit}"
            break
    else:
        text = f"{int(amount)}s"
    return f"in {text}" if delta > 0 else f"{text} ago"
