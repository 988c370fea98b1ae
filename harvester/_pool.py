"""One warm Chromium shared by many harvests, replaced when it dies or ages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from ._browser import Chromium

__all__ = ["BrowserPool"]

logger = logging.getLogger(__name__)


class BrowserPool:
    """Hands out the current browser; launches one when there is none or it is spent.

    A browser is retired after ``restart_after`` harvests (long-running Chromium leaks
    memory) or when it has died; a retired browser is closed once its last user is done.
    """

    def __init__(self, launch: Callable[[], Awaitable[Chromium]], *, restart_after: int) -> None:
        self._launch = launch
        self._restart_after = restart_after
        self._current: Chromium | None = None
        self._uses: dict[Chromium, int] = {}  # harvests started on each browser
        self._users: dict[Chromium, int] = {}  # harvests running on each browser now
        self._lock = anyio.Lock()
        self.launches = 0

    async def acquire(self) -> Chromium:
        """A live browser for one harvest; give it back with ``release``."""
        async with self._lock:
            current = self._current
            if current is not None and (
                not current.alive or self._uses[current] >= self._restart_after
            ):
                why = "it died" if not current.alive else "its harvest quota is used up"
                logger.info("replacing %s: %s", current.name, why)
                self._current = None
                await self._close_if_idle(current)
            if self._current is None:
                browser = await self._launch()
                self.launches += 1
                self._current = browser
                self._uses[browser] = 0
                self._users[browser] = 0
            browser = self._current
            self._uses[browser] += 1
            self._users[browser] += 1
            return browser

    async def release(self, browser: Chromium) -> None:
        """Give back a browser from ``acquire``."""
        self._users[browser] -= 1
        if browser is not self._current or not browser.alive:
            async with self._lock:
                if self._current is browser:
                    self._current = None
                await self._close_if_idle(browser)

    async def _close_if_idle(self, browser: Chromium) -> None:
        if self._users.get(browser, 0) == 0:
            self._uses.pop(browser, None)
            self._users.pop(browser, None)
            await browser.close()

    async def aclose(self) -> None:
        """Close every browser, in use or not."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                for browser in list(self._users):
                    await browser.close()
                self._users.clear()
                self._uses.clear()
                self._current = None
