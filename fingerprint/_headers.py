"""Which captured headers a credential keeps, and in what order.

CDP reports a request's headers (``requestWillBeSentExtraInfo``) sorted by name, not
in wire order, so headers are put in Chromium's known order for the kind of request: a
page load or a script's fetch/XHR. (The fingerprint capture sees a page load's real
wire order; ``harvest doctor`` checks the transport keeps an order exactly, but API
calls are fetches, which the capture does not make.) Headers the page set itself
(``x-...``, ``authorization``) go where Chromium puts them, before ``user-agent`` in a
fetch.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DROPPED", "ordered_headers", "request_headers"]

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
    kept = [
        (name.lower(), value)
        for name, value in headers
        if not name.startswith(":") and name.lower() not in DROPPED
    ]
    return tuple(_sorted(kept, _DOCUMENT_ORDER if document else _FETCH_ORDER))


def request_headers(
    harvested: Iterable[tuple[str, str]],
    overrides: Iterable[tuple[str, str | None]] = (),
    *,
    cookie: str = "",
    content_length: int | None = None,
) -> list[tuple[str, str]]:
    """The headers of one API request (a fetch) in Chromium's order.

    ``harvested`` are the credential's headers; ``overrides`` are this request's own
    (``None`` removes a header); ``cookie`` is the ``Cookie`` value and
    ``content_length`` the body's size, each put where Chromium puts it (given
    explicitly, curl does not add its own at the end).
    """
    merged = {name.lower(): value for name, value in harvested}
    for name, replacement in overrides:
        if replacement is None:
            merged.pop(name.lower(), None)
        else:
            merged[name.lower()] = replacement
    for name in DROPPED:
        merged.pop(name, None)
    if cookie:
        merged["cookie"] = cookie
    if content_length is not None:
        merged["content-length"] = str(content_length)
    ordered = _sorted(list(merged.items()), _FETCH_ORDER)
    # Named as Chromium writes them on HTTP/1.1; on HTTP/2 curl lower-cases every name
    # and drops Connection, as the protocol wants.
    return [("Connection", "keep-alive"), *((_WIRE_CASE.get(k, k), v) for k, v in ordered)]


# Chromium's own request headers as it names them on HTTP/1.1 (measured: the client
# hints stay in lower case, a page's own headers keep the case its script wrote).
_WIRE_CASE = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Connection",
        "Content-Length",
        "Cookie",
        "Origin",
        "Referer",
        "Sec-Fetch-Dest",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Site",
        "Sec-Fetch-User",
        "Upgrade-Insecure-Requests",
        "User-Agent",
    )
}


def _sorted(headers: list[tuple[str, str]], order: tuple[str, ...]) -> list[tuple[str, str]]:
    rank = {name: index for index, name in enumerate(order)}
    # Unknown names: at "*" for a fetch, after the known ones for a page load.
    unknown = rank.get("*", len(order))
    return sorted(headers, key=lambda item: (rank.get(item[0], unknown), item[0]))
