"""Public suffixes (``com``, ``co.uk``, ``github.io``): domains no site may set a cookie for.

The list is the Public Suffix List bundled with the ``publicsuffixlist`` package, ICANN
and private sections both, as Chromium uses it for cookies; nothing is downloaded at
run time. A name under no rule of the list is a public suffix by the list's own
default rule ``*`` (so ``test`` is one and ``web-platform.test`` is not). This is the
one module that imports ``publicsuffixlist``.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

__all__ = ["is_public_suffix"]


@functools.cache
def _list() -> PublicSuffixList:
    # Loaded on first use (about 30 ms): most processes never need it.
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def is_public_suffix(domain: str) -> bool:
    """Whether ``domain`` (canonical: lower case, A-labels, no dots at either end) is a
    public suffix."""
    return bool(domain) and _list().is_public(domain)
