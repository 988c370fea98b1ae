"""Which captured headers a credential keeps, and in what order.

CDP reports a request's headers (``requestWillBeSentExtraInfo``) sorted by name, not
in wire order. Until the harvester captures the browser's real order (the fingerprint
work), headers are put in Chromium's known order for the kind of request: a page load
or a script's fetch/XHR. Headers the page set itself (``x-...``, ``authorization``)
go where Chromium puts them, before ``user-agent`` in a fetch.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DROPPED", "ordered_headers"]

# Per-request or per-connection headers: the client makes its own.
DROPPED = frozenset({"cookie", "host", "content-length", "connection", "keep-alive"})

_DOCUMENT_ORDER = (
    "cache-control",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "upgrade-insecure-requests",
    "user-agent",
    "accept",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-user",
    "sec-fetch-dest",
    "referer",
    "accept-encoding",
    "accept-language",
    "cookie",
    "priority",
)
_FETCH_ORDER = (
    "content-length",
    "sec-ch-ua-platform",
    "*",  # headers the page set itself
    "user-agent",
    "sec-ch-ua",
    "content-type",
    "sec-ch-ua-mobile",
    "accept",
    "origin",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "referer",
    "accept-encoding",
    "accept-language",
    "cookie",
    "priority",
)


def ordered_headers(
    headers: Iterable[tuple[str, str]], *, document: bool
) -> tuple[tuple[str, str], ...]:
    """``headers`` without pseudo/per-request ones, lower-cased, in Chromium's order."""
    order = _DOCUMENT_ORDER if document else _FETCH_ORDER
    rank = {name: index for index, name in enumerate(order)}
    # Unknown names: at "*" for a fetch, after the known ones for a page load.
    unknown = rank.get("*", len(order))
    kept = [
        (name.lower(), value)
        for name, value in headers
        if not name.startswith(":") and name.lower() not in DROPPED
    ]
    kept.sort(key=lambda item: (rank.get(item[0], unknown), item[0]))
    return tuple(kept)
