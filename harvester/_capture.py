"""The browser's own fingerprint, captured once per browser start.

Two visits to the fingerprint endpoint, each from a fresh browser context (so each
is a new TLS connection): the first is the fingerprint, the pair tells whether the
browser shuffles its extension order per connection (Chrome does since 110).
"""

from __future__ import annotations

import dataclasses
import logging

from fingerprint import Fingerprint, is_grease

from ._browser import Chromium
from ._endpoint import Capture, FingerprintEndpoint

__all__ = ["capture_browser"]

logger = logging.getLogger("harvester")

_VISITS = 2


async def capture_browser(
    browser: Chromium, endpoint: FingerprintEndpoint, *, within: float = 15.0
) -> Capture:
    """What ``browser`` sends when it opens a page: its TLS hello and HTTP/2 opening."""
    assert browser.info is not None
    captures: list[Capture] = []
    for _ in range(_VISITS):
        page = await browser.new_page()
        try:
            await page.set_user_agent(browser.info)
            token = endpoint.new_token()
            await page.navigate(endpoint.url(token))
            captures += await endpoint.capture(token, within=within)
        finally:
            await page.close()
    first, second = captures[0].fingerprint, captures[-1].fingerprint
    if first.ja4 != second.ja4 or first.akamai != second.akamai:
        logger.warning(
            "Chromium's two fingerprint visits differ (%s vs %s); keeping the first",
            first.ja4,
            second.ja4,
        )
    permuted = _order(first) != _order(second)
    return dataclasses.replace(
        captures[0], fingerprint=dataclasses.replace(first, permuted=permuted)
    )


def _order(fingerprint: Fingerprint) -> list[int]:
    # GREASE values are drawn afresh per connection: only the real ones show a shuffle.
    return [e for e in fingerprint.extensions if not is_grease(e)]
