"""The browser's own fingerprint, captured once per browser start.

Two visits to the fingerprint endpoint, each from a fresh browser context (so each
is a new TLS connection): the first on its HTTP/2 port is the fingerprint, the second
on its HTTP/1.1-only port; the pair tells whether the browser shuffles its extension
order per connection (Chrome does since 110). From each visited page the page's script
then makes every API call the providers make (``Call``), one after another, so the
client can send each call's headers as Chromium did, over either protocol.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence

import anyio

from fingerprint import CAPTURE_COOKIES, GENERIC_CALLS, Call, CallCapture, Fingerprint, is_grease

from ._browser import Chromium, Page
from ._endpoint import Capture, FingerprintEndpoint
from ._errors import PageError

__all__ = ["capture_browser"]

logger = logging.getLogger("harvester")


async def capture_browser(
    browser: Chromium,
    endpoint: FingerprintEndpoint,
    *,
    calls: Sequence[Call] = GENERIC_CALLS,
    within: float = 15.0,
) -> Capture:
    """What ``browser`` sends when it opens a page (its TLS hello and HTTP/2 opening)
    and when that page's script makes each of ``calls`` (and the generic GET and POST)."""
    assert browser.info is not None
    wanted = tuple(dict.fromkeys([*GENERIC_CALLS, *calls]))
    visits: list[Capture] = []
    made: list[CallCapture] = []
    for http1 in (False, True):
        page = await browser.new_page()
        try:
            if browser.process is None:
                # Attached, not launched: no flag told it to accept the endpoint's key.
                await page.ignore_certificate_errors()
            await page.set_user_agent(browser.info)
            token = endpoint.new_token()
            await page.navigate(endpoint.url(token, http1=http1))
            visits.append((await endpoint.capture(token, within=within))[0])
            made += await _make_calls(page, endpoint, wanted, http1=http1, within=within)
        finally:
            await page.close()
    first, second = visits[0].fingerprint, visits[1].fingerprint
    if first.ja4 != second.ja4:
        logger.warning(
            "Chromium's two fingerprint visits differ (%s vs %s); keeping the first",
            first.ja4,
            second.ja4,
        )
    permuted = _order(first) != _order(second)
    fingerprint = dataclasses.replace(first, permuted=permuted, calls=tuple(made))
    return dataclasses.replace(visits[0], fingerprint=fingerprint)


async def _make_calls(
    page: Page,
    endpoint: FingerprintEndpoint,
    calls: Sequence[Call],
    *,
    http1: bool,
    within: float,
) -> list[CallCapture]:
    """Each of ``calls`` made by ``page``'s script, as the endpoint saw it."""
    origin = endpoint.url("", http1=http1).split("/fingerprint/")[0]
    await _wait_for_origin(page, origin, within)
    tokens = [endpoint.new_token() for _ in calls]
    requests = [
        [endpoint.url(token, http1=http1), _init(call)]
        for token, call in zip(tokens, calls, strict=True)
    ]
    cookies = [f"{name}={value}; path=/" for name, value in CAPTURE_COOKIES]
    # One script for every call, one after another (each on a new connection: the
    # endpoint answers one request per connection); a fetch that races the closing
    # connection is tried once more.
    script = f"""(async () => {{
        for (const c of {json.dumps(cookies)}) document.cookie = c;
        for (const [url, init] of {json.dumps(requests)}) {{
            try {{ await (await fetch(url, init)).text(); }}
            catch (e) {{ await (await fetch(url, init)).text(); }}
        }}
        return true;
    }})()"""
    await page.evaluate(script, await_promise=True)
    made = []
    for token, call in zip(tokens, calls, strict=True):
        seen = (await endpoint.capture(token, within=within))[0].fingerprint
        regular = tuple((k, v) for k, v in seen.headers if not k.startswith(":"))
        made.append(CallCapture(call, seen.http, regular, seen.h2_headers_priority))
    return made


def _init(call: Call) -> dict[str, object]:
    init: dict[str, object] = {"method": call.method, "headers": call.script_headers()}
    if call.method not in ("GET", "HEAD"):
        init["body"] = "{}"
    return init


async def _wait_for_origin(page: Page, origin: str, within: float) -> None:
    """Until the visited page is the one the script must run in (same origin as the
    endpoint), not the blank page before it."""
    with anyio.fail_after(within):
        while True:
            try:
                if await page.evaluate("location.origin") == origin:
                    return
            except PageError:
                pass  # the context went away with the navigation: ask the new one
            await anyio.sleep(0.01)


def _order(fingerprint: Fingerprint) -> list[int]:
    # GREASE values are drawn afresh per connection: only the real ones show a shuffle.
    return [e for e in fingerprint.extensions if not is_grease(e)]
