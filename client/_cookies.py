"""``Set-Cookie`` to a stored ``Cookie``, and stored cookies to a ``Cookie`` header.

The steps are RFC 6265bis section 5's, in its order: the cookie-date algorithm
(5.1.1), parsing the set-cookie-string and its attributes (5.6) and the storage
model (5.7) up to the jar's own steps, which ``storage.merged_cookies`` takes
(replacement, eviction of the expired). Which stored cookies a request carries is
``storage.cookies_for`` (5.8.3). Where the RFC leaves the choice to the user agent,
Chromium's is taken: a 400-day lifetime limit, the Public Suffix List with its private
section, ``https``, ``wss`` and this machine as secure. Where browsers and the
draft's text differ, the browsers are followed: an empty ``Domain`` is ignored, and a
cookie set again with a new value is ordered as a new one.

Nothing here raises but ``CookieIgnored``, whose message says which rule ignored the
cookie and never holds its value.
"""

from __future__ import annotations

import calendar
import functools
import logging
import re
from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

from storage import (
    Cookie,
    canonical_host,
    domain_match,
    is_public_suffix,
    is_secure,
    path_match,
)

from ._errors import shorten

__all__ = [
    "CookieIgnored",
    "cookie_header",
    "parse_cookie_date",
    "parse_set_cookie",
    "received_cookies",
]

logger = logging.getLogger("client")

# Section 5.5: "The limit SHOULD NOT be greater than 400 days".
LIFETIME_LIMIT = 400 * 24 * 3600
# The earliest time a stored cookie can say (0001-01-01 UTC): what a Max-Age of zero
# or less expires at (5.6.2 step 7), so the cookie is deleted, whatever the clock.
EARLIEST = -62135596800.0

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB (5.6 step 1)
_WSP = " \t"
_DELIMITERS = re.compile("[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME = re.compile("([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9]|$)")
_DAY = re.compile("([0-9]{1,2})(?:[^0-9]|$)")
_YEAR = re.compile("([0-9]{2,4})(?:[^0-9]|$)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_SAME_SITE = {"none": "None", "strict": "Strict", "lax": "Lax"}


class CookieIgnored(ValueError):
    """A ``Set-Cookie`` a browser ignores; the message names the rule, never the value."""


def cookie_header(cookies: Iterable[Cookie]) -> str:
    """The ``Cookie`` header carrying ``cookies`` in the given order (5.8.3 step 6):
    a name-less cookie is its value alone."""
    return "; ".join(f"{c.name}={c.value}" if c.name else c.value for c in cookies)


def received_cookies(
    headers: Iterable[str], url: str, *, now: float, jar: Sequence[Cookie] = ()
) -> list[Cookie]:
    """The cookies the ``Set-Cookie`` ``headers`` of a response from ``url`` store, in
    order; each one a browser ignores is logged (rule and name only) and skipped."""
    stored: list[Cookie] = []
    for header in headers:
        try:
            # Step 16 needs the jar only as it was: over a plain connection no cookie
            # of this response can be Secure (step 13) or replace a Secure one.
            stored.append(parse_set_cookie(header, url, now=now, jar=jar))
        except CookieIgnored as ignored:
            logger.warning("ignored a Set-Cookie from %s: %s", _host_of(url), ignored)
    return stored


def parse_set_cookie(header: str, url: str, *, now: float, jar: Sequence[Cookie] = ()) -> Cookie:
    """The cookie ``Set-Cookie: header`` on a response from ``url`` stores, given the
    ``jar`` it lands in; ``CookieIgnored`` when a browser would ignore it.

    A cookie whose expiry has passed comes back expired: storing it deletes the old one.
    """
    # 5.6: the set-cookie-string.
    if _CONTROL.search(header):
        raise CookieIgnored("it contains a control character")
    pair, semicolon, unparsed = header.partition(";")
    name, equals, value = pair.partition("=")
    if not equals:
        name, value = "", pair
    name, value = name.strip(_WSP), value.strip(_WSP)
    if _octets(name) + _octets(value) > 4096:
        raise CookieIgnored(f"{_label(name)}: its name and value are over 4096 bytes")
    parts, request_host = _request(url)
    if not request_host:
        raise CookieIgnored(f"{_label(name)}: the response URL has no host a cookie can belong to")
    attributes = _attributes(unparsed if semicolon else "", parts.path, now)

    # 5.7: the storage model, steps 2 to 22 (23 and 24 are the jar's). Step 15 and
    # step 18 always pass: the client is an HTTP API, and every request it makes is
    # the site's own (same-site).
    if not name and not value:
        raise CookieIgnored("its name and value are both empty")
    expires: float | None = None
    if "max-age" in attributes:
        expires = float(attributes["max-age"])
    elif "expires" in attributes:
        expires = float(attributes["expires"])
    domain_attribute = str(attributes.get("domain", ""))
    if not domain_attribute.isascii():
        raise CookieIgnored(f"{_label(name)}: its Domain is not ASCII")
    if is_public_suffix(domain_attribute):
        if domain_attribute != request_host:
            raise CookieIgnored(
                f"{_label(name)}: its Domain {shorten(domain_attribute, 60)!r} is a public suffix"
            )
        domain_attribute = ""
    if domain_attribute:
        if not domain_match(request_host, domain_attribute):
            raise CookieIgnored(
                f"{_label(name)}: its Domain {shorten(domain_attribute, 60)!r} "
                f"does not cover {request_host!r}"
            )
        domain, host_only = domain_attribute, False
    else:
        domain, host_only = request_host, True
    path = str(attributes.get("path", _default_path(parts.path)))
    secure = "secure" in attributes
    secure_request = is_secure(parts.scheme, request_host)
    if secure and not secure_request:
        raise CookieIgnored(
            f"{_label(name)}: it is Secure but came over {parts.scheme or 'no scheme'}"
        )
    if not secure and not secure_request and _overlays_secure(jar, name, domain, path):
        raise CookieIgnored(
            f"{_label(name)}: it would overlay a Secure cookie from a plain connection"
        )
    same_site = attributes.get("samesite")
    same_site = same_site if same_site in ("Strict", "Lax", "None") else None
    if same_site == "None" and not secure:
        raise CookieIgnored(f"{_label(name)}: SameSite=None needs Secure")
    folded = name.lower()
    if folded.startswith("__secure-") and not secure:
        raise CookieIgnored(f"{_label(name)}: a __Secure- cookie must be Secure")
    if folded.startswith("__host-") and not (
        secure and host_only and "path" in attributes and path == "/"
    ):
        raise CookieIgnored(
            f"{_label(name)}: a __Host- cookie must be Secure, host-only, with Path=/"
        )
    if not name and value.lower().startswith(("__secure-", "__host-")):
        raise CookieIgnored("a name-less cookie's value may not start with a cookie prefix")
    return Cookie(
        name=name,
        value=value,
        domain=domain,
        path=path,
        expires=expires,
        secure=secure,
        http_only="httponly" in attributes,
        same_site=same_site,
        host_only=host_only,
    )


def _attributes(unparsed: str, request_path: str, now: float) -> dict[str, float | str]:
    """The cookie-attribute-list (5.6 and 5.6.1-7), the last of each name winning, as
    the storage model reads it. Values: expiry times, domain, path, flags as ``""``."""
    found: dict[str, float | str] = {}
    for cookie_av in unparsed.split(";") if unparsed else ():
        name, _, value = cookie_av.partition("=")
        name, value = name.strip(_WSP).lower(), value.strip(_WSP)
        if _octets(value) > 1024:
            continue  # 5.6 step 6: the attribute is ignored, the cookie is not
        if name == "expires":
            expiry = parse_cookie_date(value)
            if expiry is not None:
                found["expires"] = min(expiry, now + LIFETIME_LIMIT)
        elif name == "max-age":
            digits = value[1:] if value[:1] == "-" else value
            if digits and digits.isascii() and digits.isdigit():
                seconds = min(int(value), LIFETIME_LIMIT)  # at most 1024 digits: int() copes
                found["max-age"] = now + seconds if seconds > 0 else EARLIEST
        elif name == "domain" and value:
            # An empty Domain is ignored, the one before it standing, as browsers do
            # (web-platform-tests and http-state agree; the draft's text would reset).
            found["domain"] = (value[1:] if value.startswith(".") else value).lower()
        elif name == "path":
            found["path"] = value if value.startswith("/") else _default_path(request_path)
        elif name in ("secure", "httponly"):
            found[name] = ""
        elif name == "samesite":
            found["samesite"] = _SAME_SITE.get(value.lower(), "Default")
    return found


def parse_cookie_date(text: str) -> float | None:
    """A cookie-date (RFC 6265bis 5.1.1) as Unix seconds, or ``None`` if it is not one."""
    found_time = found_day = found_month = found_year = False
    hour = minute = second = day = month = year = 0
    for token in _DELIMITERS.split(text):
        if not token:
            continue
        if not found_time and (match := _TIME.match(token)):
            found_time = True
            hour, minute, second = (int(g) for g in match.groups())
        elif not found_day and (match := _DAY.match(token)):
            found_day, day = True, int(match.group(1))
        elif not found_month and token[:3].isascii() and token[:3].lower() in _MONTHS:
            found_month, month = True, _MONTHS.index(token[:3].lower()) + 1
        elif not found_year and (match := _YEAR.match(token)):
            found_year, year = True, int(match.group(1))
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    if not (found_time and found_day and found_month and found_year):
        return None
    if not 1 <= day <= 31 or year < 1601 or hour > 23 or minute > 59 or second > 59:
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None  # no such date (30 February)
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def _default_path(request_path: str) -> str:
    """The default-path of a request path (5.1.4): up to its right-most ``/``."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


def _overlays_secure(jar: Iterable[Cookie], name: str, domain: str, path: str) -> bool:
    """Section 5.7 step 16: a cookie from a plain connection may not overlay a Secure one."""
    return any(
        c.secure
        and c.name == name
        and (domain_match(c.domain, domain) or domain_match(domain, c.domain))
        and path_match(path, c.path)
        for c in jar
    )


def _octets(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _label(name: str) -> str:
    """A cookie as an error names it: by its name, never its value."""
    return f"the cookie {shorten(name, 40)!r}" if name else "a name-less cookie"


@functools.lru_cache(maxsize=256)  # a client answers from a handful of URLs
def _request(url: str) -> tuple[SplitResult, str | None]:
    """The request-uri's parts and canonicalized host (``None`` if it has none)."""
    try:
        parts = urlsplit(url)
        return parts, canonical_host(parts.hostname or "")
    except ValueError:
        return SplitResult("", "", "", "", ""), None


def _host_of(url: str) -> str:
    return _request(url)[1] or "?"
