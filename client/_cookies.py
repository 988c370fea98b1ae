"""Cookies on the wire: the ``Cookie`` header a request carries and ``Set-Cookie``.

Which stored cookies a request carries is ``Credential.cookies_for`` (RFC 6265 section
5.4: domain, path, secure, expiry). Here: turning a response's ``Set-Cookie`` into a
``Cookie`` as a browser would store it (section 5.2 and 5.3), so a rotated cookie is
written back with the attributes the site gave it.
"""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from storage import Cookie

__all__ = ["cookie_header", "parse_set_cookie"]


def cookie_header(cookies: Iterable[Cookie]) -> str:
    """The value of a ``Cookie`` header carrying ``cookies`` in the given order."""
    return "; ".join(f"{c.name}={c.value}" for c in cookies)


def parse_set_cookie(header: str, url: str, *, now: float) -> Cookie | None:
    """The cookie a ``Set-Cookie: header`` on a response from ``url`` stores, or ``None``.

    ``None`` when a browser would ignore it: no ``=`` or no name, or a ``Domain`` the
    responding host is not in (a site cannot set another site's cookie). A cookie whose
    expiry has passed (``Max-Age=0``) comes back expired: storing it deletes the old one.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    pair, *attributes = header.split(";")
    name, equals, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not equals or not name or not host:
        return None
    domain = ""
    path = ""
    expires: float | None = None
    max_age: float | None = None
    secure = http_only = False
    same_site: str | None = None
    for attribute in attributes:
        key, _, raw = attribute.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if key == "domain" and raw:
            domain = raw.lstrip(".").lower()
        elif key == "path":
            path = raw
        elif key == "max-age":
            try:
                seconds = int(raw)
            except ValueError:
                continue
            max_age = now + seconds if seconds > 0 else now
        elif key == "expires":
            expires = _http_date(raw)
        elif key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite":
            same_site = {"strict": "Strict", "lax": "Lax", "none": "None"}.get(raw.lower())
    if domain:
        if host != domain and not host.endswith("." + domain):
            return None
        stored_domain = "." + domain  # a domain cookie: sent to subdomains too
    else:
        stored_domain = host  # host-only
    if not path.startswith("/"):
        path = _default_path(parts.path)
    return Cookie(
        name=name,
        value=value,
        domain=stored_domain,
        path=path,
        expires=max_age if max_age is not None else expires,  # Max-Age wins (5.3 step 3)
        secure=secure,
        http_only=http_only,
        same_site=same_site,
    )


def _http_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None  # an unparsable Expires is ignored (a session cookie)


def _default_path(request_path: str) -> str:
    """RFC 6265 section 5.1.4: the request path up to its last ``/``."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]
