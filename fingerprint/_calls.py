"""The API calls a page's script makes, and what Chromium sent for each.

Chromium orders a fetch's headers by the set of headers the script set (with three of
them even ``user-agent`` moves), so no rule predicts it: the harvester has Chromium make
each kind of call (a ``Call``) against its fingerprint endpoint, over HTTP/2 and over
HTTP/1.1, and keeps what went out (a ``CallCapture``). The client replays a call's
captured order (a ``Shape``); where it has none it falls back to the general rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CAPTURE_COOKIES",
    "GENERIC_CALLS",
    "GET",
    "POST_JSON",
    "Call",
    "CallCapture",
    "Shape",
    "calls_from_stored",
    "calls_to_stored",
    "chromium_weight",
    "decode_calls",
    "shape_for",
    "urgency_of",
]

# Values the capture's script gives its cookies and page-set headers: the order depends
# on the names only.
PLACEHOLDER = "x"
CAPTURE_COOKIES = (("a", "1"), ("b", "2"))


@dataclass(frozen=True)
class Call:
    """A kind of request a page's script makes: its method, the body's content type
    and the other headers the script sets (lower-case names)."""

    method: str = "GET"
    content_type: str | None = None
    page_headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        names = tuple(sorted(n.lower() for n in self.page_headers))
        object.__setattr__(self, "page_headers", names)

    @property
    def label(self) -> str:
        """``GET``, ``POST application/json + x-nonce, x-signature``: for people."""
        parts = [self.method]
        if self.content_type:
            parts.append(self.content_type)
        text = " ".join(parts)
        return f"{text} + {', '.join(self.page_headers)}" if self.page_headers else text

    def script_headers(self) -> dict[str, str]:
        """The headers the capture's ``fetch()`` sets for this call."""
        headers = {name: PLACEHOLDER for name in self.page_headers}
        if self.content_type:
            headers["content-type"] = self.content_type
        return headers

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "content_type": self.content_type,
            "page_headers": list(self.page_headers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call:
        content_type = data.get("content_type")
        return cls(
            method=str(data["method"]),
            content_type=None if content_type is None else str(content_type),
            page_headers=tuple(str(n) for n in data.get("page_headers", ())),
        )


GET = Call("GET")
POST_JSON = Call("POST", "application/json")
# Captured for every browser whatever the providers declare.
GENERIC_CALLS = (GET, POST_JSON)


@dataclass(frozen=True)
class CallCapture:
    """What Chromium sent for one call over one protocol, as the endpoint saw it."""

    call: Call
    http: str  # "h2" or "http/1.1"
    headers: tuple[tuple[str, str], ...]  # regular headers in wire order, names as sent
    priority: tuple[int, int, int] | None = None  # HEADERS frame: exclusive, dependency, weight

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.headers)

    @property
    def cookie_fields(self) -> int:
        return sum(1 for name, _ in self.headers if name.lower() == "cookie")

    def to_dict(self, strings: dict[str, int]) -> dict[str, Any]:
        """Stored form: each header's name and value as indexes into ``strings`` (which
        it fills), a table the captures share, the pairs in one string (``"0:1 2:3"``):
        a credential carries a dozen captures of the same names and mostly the same
        values, and the store decodes it on every read."""

        def index(text: str) -> int:
            return strings.setdefault(text, len(strings))

        return {
            "call": self.call.to_dict(),
            "http": self.http,
            "headers": " ".join(f"{index(name)}:{index(value)}" for name, value in self.headers),
            "priority": None if self.priority is None else list(self.priority),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], strings: Sequence[str]) -> CallCapture:
        priority = data.get("priority")
        exclusive, dependency, weight = (int(v) for v in priority) if priority else (0, 0, 0)
        return cls(
            call=Call.from_dict(data["call"]),
            http=str(data["http"]),
            headers=tuple(
                (strings[int(k)], strings[int(v)])
                for k, _, v in (pair.partition(":") for pair in str(data["headers"]).split())
            ),
            priority=(exclusive, dependency, weight) if priority else None,
        )


@dataclass(frozen=True)
class Shape:
    """How Chromium writes one call: the order of its header names (lower case, each
    once; ``cookie`` where its first field goes) and their HTTP/1.1 spelling."""

    order: tuple[str, ...]
    case: Mapping[str, str]


def shape_for(captures: Iterable[CallCapture], call: Call) -> Shape | None:
    """The shape of ``call`` from a browser's captures; None when it was not captured.

    The order is the HTTP/2 capture's (on HTTP/1.1 Chromium sends the same order after
    ``Host`` and ``Connection``, and no ``priority``); the spelling the HTTP/1.1 one's.
    """
    h2 = h1 = None
    for capture in captures:
        if capture.call == call:
            if capture.http == "h2":
                h2 = capture
            else:
                h1 = capture
    source = h2 or h1
    if source is None:
        return None
    order = tuple(dict.fromkeys(name.lower() for name in source.names))
    case = {name.lower(): name for name in (h1.names if h1 is not None else ())}
    return Shape(order=order, case=case)


def chromium_weight(urgency: int) -> int:
    """The HTTP/2 weight Chromium gives a request of RFC 9218 ``urgency`` (0-7).

    Chromium maps its request priorities to SPDY/3 priorities 0-7, which the
    ``priority`` header's urgency follows, and those to weights evenly from 256 down:
    page loads (u=0) 256, fetches (u=1) 220.
    """
    urgency = min(max(urgency, 0), 7)
    return int(255.9 / 7 * (7 - urgency)) + 1


def urgency_of(priority_header: str | None) -> int | None:
    """The ``u=`` of a ``priority`` header value (RFC 9218), None when it has none."""
    if not priority_header:
        return None
    for item in priority_header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "u" and value.isdigit():
            return int(value)
    return None


def calls_to_stored(captures: Sequence[CallCapture]) -> dict[str, Any]:
    """The stored form of ``captures``: ``calls`` and the ``call_strings`` they index."""
    strings: dict[str, int] = {}
    calls = [capture.to_dict(strings) for capture in captures]
    return {"calls": calls, "call_strings": list(strings)}


def decode_calls(data: Mapping[str, Any]) -> tuple[CallCapture, ...]:
    """The inverse of ``calls_to_stored`` (``KeyError``, ``TypeError``, ``ValueError``
    or ``IndexError`` when it is not one)."""
    strings = [str(v) for v in data.get("call_strings") or ()]
    return tuple(CallCapture.from_dict(item, strings) for item in data.get("calls") or ())


def calls_from_stored(data: Mapping[str, Any] | None) -> tuple[CallCapture, ...]:
    """The call captures of a stored fingerprint dict, read alone (a request needs
    these, not the whole fingerprint); empty when there are none or they are unreadable."""
    if not data:
        return ()
    try:
        return decode_calls(data)
    except (KeyError, TypeError, ValueError, IndexError):
        return ()
