"""The recipe interpreter: open a provider's page, wait until it is ready, collect.

Readiness is driven by the page's own CDP events (requests, loads, navigations): each
event triggers a re-check, so a passed interstitial is seen as soon as the page that
follows it loads. A slow tick re-checks too, for changes no event announces (a title
set by a timer). While the page is not ready, the recipe's challenge widgets are
clicked as they appear (and again after a while if nothing came of it).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio

from client import HarvestRecipe, Token, Widget
from fingerprint import ordered_headers
from storage import Cookie

from ._browser import (
    BrowserExited,
    BrowserInfo,
    Page,
    PageEvent,
    RequestHeaders,
    RequestSent,
)
from ._errors import BrowserFailed, HarvestTimeout, PageError

__all__ = ["Collected", "collect"]

# Re-check this often even without events: a timer may change the title silently.
_TICK = 1.0
# Look for a widget at most this often: each look reads the whole (pierced) DOM.
_LOOK_EVERY = 0.25


@dataclass(frozen=True)
class Collected:
    """What one harvest read from the browser."""

    headers: tuple[tuple[str, str], ...]
    cookies: tuple[Cookie, ...]
    tokens: dict[str, str]


async def collect(
    page: Page,
    recipe: HarvestRecipe,
    info: BrowserInfo,
    *,
    what: str,
    seed: Iterable[Cookie] = (),
) -> Collected:
    """Run ``recipe`` in ``page`` (a fresh context) that starts with the ``seed``
    cookies; ``what`` names the harvest in errors."""
    watch = _Watch(recipe, what)
    page.on_event(watch.handle)
    await page.set_user_agent(info)
    await page.set_cookies(seed)
    await page.navigate(recipe.start_url)
    try:
        with anyio.fail_after(recipe.timeout):
            await watch.until_ready(page)
    except TimeoutError:
        waiting = [*watch.unmet, *watch.widgets_waited()]
        raise HarvestTimeout(
            f"{what}: {recipe.start_url} was not ready after {recipe.timeout:g}s; "
            f"still waiting for {'; '.join(waiting) or 'the page to load'}"
        ) from None
    cookies = await page.cookies()
    hosts = {urlsplit(origin).hostname or "" for origin in recipe.origins}
    kept = tuple(c for c in cookies if any(c.domain_matches(h) for h in hosts))
    tokens = await _tokens(page, recipe.tokens, what)
    return Collected(headers=watch.headers(), cookies=kept, tokens=tokens)


class _Watch:
    """Event-fed state of one harvest and the readiness check over it."""

    def __init__(self, recipe: HarvestRecipe, what: str) -> None:
        self.recipe = recipe
        self.what = what
        self.requests: dict[str, RequestSent] = {}
        self.sent_headers: dict[str, tuple[tuple[str, str], ...]] = {}
        self.exited: BrowserExited | None = None
        self.unmet: list[str] = []
        self._pulse = anyio.Event()
        self._ready = re.compile(recipe.ready.request) if recipe.ready.request else None
        self._capture = re.compile(recipe.capture) if recipe.capture else None
        self._widgets = [_WidgetState(w, re.compile(w.frame)) for w in recipe.widgets]
        self._rng = random.Random()

    def handle(self, event: PageEvent) -> None:
        if isinstance(event, RequestSent):
            self.requests[event.request_id] = event
        elif isinstance(event, RequestHeaders):
            self.sent_headers[event.request_id] = event.headers
        elif isinstance(event, BrowserExited):
            self.exited = event
        self._pulse.set()

    async def until_ready(self, page: Page) -> None:
        while True:
            # A new pulse before the check: an event during the check re-runs it.
            self._pulse = anyio.Event()
            self.unmet = await self._check(page)
            if not self.unmet:
                return
            if await self._click_widgets(page):
                continue  # look again at once: the click may have changed the page
            with anyio.move_on_after(_TICK):
                await self._pulse.wait()

    async def _click_widgets(self, page: Page) -> bool:
        """Click each widget that is there and due; True if one was clicked."""
        clicked = False
        now = anyio.current_time()
        for state in self._widgets:
            if not state.due(now) or now - state.last_look < _LOOK_EVERY:
                continue
            state.last_look = now
            try:
                box = await page.find_in_frame(state.frame, state.widget.target)
            except PageError:
                continue  # the document changed under us: the next check looks again
            if box is None:
                continue
            state.appeared = True
            state.clicks += 1
            state.last_click = anyio.current_time()
            with contextlib.suppress(PageError):
                # The page moved on mid-click (the widget passed it): the next check sees.
                await page.click(box, self._rng)
            clicked = True
        return clicked

    def widgets_waited(self) -> list[str]:
        """What the widgets that appeared are still waited for, for a timeout's message."""
        return [
            f"the widget {s.widget.name!r} to let the page on "
            f"(clicked {s.clicks} time{'s' if s.clicks != 1 else ''}; nothing came of it)"
            for s in self._widgets
            if s.appeared
        ]

    async def _check(self, page: Page) -> list[str]:
        if self.exited is not None:
            code = self.exited.returncode
            raise BrowserFailed(f"{self.what}: Chromium exited during the harvest (code {code})")
        ready = self.recipe.ready
        unmet: list[str] = []
        if self._ready is not None and not any(
            self._ready.search(r.url) for r in self.requests.values()
        ):
            unmet.append(f"a request to a URL matching {ready.request!r}")
        if self._capture is not None and self._captured() is None:
            unmet.append(f"the headers of a request matching {self.recipe.capture!r}")
        if self._capture is None and self._document() is None:
            unmet.append("the headers of the page load")
        unmet.extend(await self._page_state(page))
        if ready.cookie is not None and not unmet:
            # Asked last and only when all else holds: it is a browser-wide call.
            names = {c.name for c in await page.cookies()}
            if ready.cookie not in names:
                unmet.append(f"the cookie {ready.cookie!r}")
        return unmet

    async def _page_state(self, page: Page) -> list[str]:
        ready = self.recipe.ready
        selector = json.dumps(ready.selector)
        script = (
            "JSON.stringify({href: location.href, state: document.readyState,"
            " title: document.title,"
            f" found: {selector} === null || !!document.querySelector({selector})}})"
        )
        try:
            raw = await page.evaluate(script)
        except PageError:
            return ["the page to finish navigating"]  # the document changed under us
        state = json.loads(raw) if isinstance(raw, str) else {}
        unmet = []
        if state.get("href", "about:blank") == "about:blank" or state.get("state") == "loading":
            unmet.append(f"{self.recipe.start_url} to load")
        if ready.title_not is not None and ready.title_not in str(state.get("title", "")):
            unmet.append(
                f"the title {ready.title_not!r} to go (it is {str(state.get('title'))[:80]!r})"
            )
        if state.get("found") is not True:
            unmet.append(f"an element matching {ready.selector!r}")
        return unmet

    def _captured(self) -> str | None:
        assert self._capture is not None
        matching = [
            rid
            for rid, request in self.requests.items()
            if rid in self.sent_headers and self._capture.search(request.url)
        ]
        return matching[-1] if matching else None

    def _document(self) -> str | None:
        hosts = {urlsplit(origin).hostname for origin in self.recipe.origins}
        documents = [
            rid
            for rid, request in self.requests.items()
            if rid in self.sent_headers
            and request.resource_type == "Document"
            and urlsplit(request.url).hostname in hosts
        ]
        return documents[-1] if documents else None

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The kept headers of the captured request (or of the last page load)."""
        rid = self._captured() if self._capture is not None else self._document()
        if rid is None:
            return ()
        document = self.requests[rid].resource_type == "Document"
        return ordered_headers(self.sent_headers[rid], document=document)


@dataclass
class _WidgetState:
    """One recipe widget during one harvest."""

    widget: Widget
    frame: re.Pattern[str]
    clicks: int = 0
    last_click: float | None = None
    last_look: float = -math.inf
    appeared: bool = False

    def due(self, now: float) -> bool:
        if self.clicks >= self.widget.clicks:
            return False
        return self.last_click is None or now - self.last_click >= self.widget.retry_after


async def _tokens(page: Page, tokens: Iterable[Token], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    html: str | None = None
    for token in tokens:
        value: str | None = None
        if token.regex is not None:
            if html is None:
                raw = await page.evaluate("document.documentElement.outerHTML")
                html = raw if isinstance(raw, str) else ""
            match = re.search(token.regex, html)
            if match:
                value = match.group(1) if match.groups() else match.group(0)
            how = f"regex {token.regex!r} over the page HTML"
        else:
            result = await page.evaluate(str(token.js), await_promise=True)
            if isinstance(result, str) and result:
                value = result
            elif isinstance(result, int | float) and not isinstance(result, bool):
                value = str(result)
            how = f"the expression {token.js!r}"
        if value:
            found[token.name] = value
        elif token.required:
            raise PageError(f"{what}: token {token.name!r} not found ({how} gave nothing)")
    return found
