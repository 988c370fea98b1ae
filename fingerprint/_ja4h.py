"""JA4H, FoxIO's fingerprint of an HTTP request: what it says about the client.

``ge20cr13enus_<names>_<cookie names>_<cookies>``: method, version, whether a cookie
and a referer came, how many other headers and the first language; then hashes of the
other header names in wire order and of the cookies' names and pairs, sorted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["ja4h"]

_EMPTY = "000000000000"
_VERSIONS = {"h2": "20", "http/1.1": "11", "http/1.0": "10", "h3": "30"}


def ja4h(method: str, http: str, headers: Sequence[tuple[str, str]]) -> str:
    """The JA4H of a request with ``headers`` (wire order, names as sent, no
    pseudo-headers) over ``http`` (``"h2"`` or ``"http/1.1"``)."""
    regular = [(name, value) for name, value in headers if not name.startswith(":")]
    lower = [(name.lower(), value) for name, value in regular]
    cookies = [
        part.strip()
        for name, value in lower
        if name == "cookie"
        for part in value.split(";")
        if part.strip()
    ]
    names = [name for name, _ in regular if name.lower() not in ("cookie", "referer")]
    language = next((value for name, value in lower if name == "accept-language"), "")
    first = language.replace("-", "").replace(";", ",").lower().split(",")[0]
    a = (
        f"{method.lower()[:2]}{_VERSIONS.get(http, '00')}"
        f"{'c' if cookies else 'n'}{'r' if any(n == 'referer' for n, _ in lower) else 'n'}"
        f"{min(len(names), 99):02d}{(first + '0000')[:4]}"
    )
    cookie_names = sorted(part.split("=", 1)[0] for part in cookies)
    hashes = [",".join(names), ",".join(cookie_names), ",".join(sorted(cookies))]
    return "_".join([a, *(_sha12(text) for text in hashes)])


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else _EMPTY
