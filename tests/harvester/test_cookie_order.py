"""The jar orders cookies as Chromium does: asked the same sequence of sets, Chromium
(through CDP, as a harvest reads it) and ``merged_cookies`` agree on the order, which
is the tie-break of the ``Cookie`` header."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester._browser import Chromium
from storage import Cookie, merged_cookies

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

# (name, value) set one after the other on one host and path.
SETS = [("zeta", "1"), ("alpha", "1"), ("mid", "1"), ("beta", "1"), ("alpha", "2"), ("mid", "1")]


async def test_chromium_and_the_jar_order_cookies_alike(chromium: str) -> None:
    browser = await Chromium.launch(Path(chromium))
    try:
        page = await browser.new_page()
        for name, value in SETS:  # one by one: each set is a later creation time
            await page.set_cookies([Cookie(name, value, domain="example.com", secure=True)])
        seen = [(c.name, c.value) for c in await page.cookies()]
    finally:
        await browser.close()
    jar: tuple[Cookie, ...] = ()
    for name, value in SETS:
        jar = merged_cookies(jar, [Cookie(name, value, domain="example.com", secure=True)], 0)
    # A new value orders as a new cookie; the same value keeps its place.
    assert seen == [("zeta", "1"), ("mid", "1"), ("beta", "1"), ("alpha", "2")]
    assert [(c.name, c.value) for c in jar] == seen
