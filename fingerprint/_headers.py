"""Which captured headers a credential keeps, and in what order.

CDP reports a request's headers (``requestWillBeSentExtraInfo``) sorted by name, not
in wire order. An API request goes out in the order Chromium itself used for that kind
of call when the fingerprint capture had it make one (its ``Shape``); without one, in
Chromium's general order for a page load or a script's fetch/XHR, where the headers
the page set itself (``x-...``, ``authorization``) go before ``user-agent``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._calls import Shape

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
    shape: Shape | None = None,
) -> list[tuple[str, str]]:
    """The headers of one API request (a fetch) in Chromium's order.

    ``harvested`` are the credential's headers; ``overrides`` are this request's own
    (``None`` removes a header); ``cookie`` is the ``Cookie`` value and
    ``content_length`` the body's size, each put where Chromium puts it (given
    explicitly, curl does not add its own at the end). ``shape`` is how Chromium wrote
    this kind of call when it was captured; without it the general rule orders them.
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
    items = list(merged.items())
    if shape is not None:
        ordered = _sorted(items, shape.order, captured=True)
    else:
        ordered = _sorted(items, _FETCH_ORDER)
    case = shape.case if shape is not None else {}
    # Named as Chromium writes them on HTTP/1.1; on HTTP/2 curl lower-cases every name
    # and drops Connection, as the protocol wants.
    return [
        ("Connection", "keep-alive"),
        *((case.get(k) or _WIRE_CASE.get(k, k), v) for k, v in ordered),
    ]


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


def _sorted(
    headers: list[tuple[str, str]], order: tuple[str, ...], *, captured: bool = False
) -> list[tuple[str, str]]:
    rank: dict[str, float] = {name: index for index, name in enumerate(order)}
    # Names the order lacks: at "*" for a fetch, after the known ones for a page load,
    # and in a captured shape where a fetch's page-set headers go, before user-agent.
    unknown = rank.get("*", len(order))
    if captured and "user-agent" in rank:
        unknown = rank["user-agent"] - 0.5
    return sorted(headers, key=lambda item: (rank.get(item[0], unknown), item[0]))
