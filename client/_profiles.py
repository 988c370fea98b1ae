"""``ProfilePool``: which of a provider's profiles a call without one uses.

Several accounts or sessions per provider spread the load: a call goes to a usable
profile (a credential that is fresh and not expired), the least loaded first, never one
cooling down after the site's 429 (cool-downs are in the store, so every process
respects them), and not beyond ``[providers.NAME] max_streams`` concurrent streams per
profile (a call waits for a slot). A refused profile is re-harvested in the background
while the others serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import anyio

from storage import Cooldown, CredentialStore

from ._config import Config
from ._errors import RateLimited
from ._view import CredentialView

__all__ = ["ProfilePool"]

logger = logging.getLogger("client")


class ProfilePool:
    """Load, cool-downs and caps of every (provider, profile) this client uses."""

    def __init__(
        self,
        config: Config,
        store: CredentialStore,
        view: CredentialView,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._store = store
        self._view = view
        self._clock = clock
        self._active: dict[tuple[str, str], int] = {}
        self._released = anyio.Event()  # set (and replaced) whenever a stream ends
        self._background: set[asyncio.Task[Any]] = set()

    def load(self, provider: str, profile: str) -> int:
        """Streams running now on (provider, profile) in this client."""
        return self._active.get((provider, profile), 0)

    async def pick(
        self, provider: str, profiles: Sequence[str], moved_from: Collection[str]
    ) -> str:
        """The profile for the next call: usable first, then the least loaded, in the
        configured order; ``RateLimited`` with the earliest retry time when every one
        is cooling down. ``moved_from`` are the ones this call left (cooling, or being
        re-harvested): taken again only when nothing else is left."""
        cap = self._config.provider(provider).max_streams
        while True:
            cooling = {c.profile: c for c in await self._view.cooldowns(provider)}
            open_ = [p for p in profiles if p not in cooling]
            if not open_:
                raise self._all_cooling(provider, [cooling[p] for p in profiles])
            fresh = [p for p in open_ if p not in moved_from] or open_
            if len(fresh) == 1 and cap is None:
                return fresh[0]  # nothing to choose between (one profile: the common case)
            usable = await self._usable(provider, fresh)
            ranked = sorted(
                fresh, key=lambda p: (not usable[p], self.load(provider, p), profiles.index(p))
            )
            for profile in ranked:
                if cap is None or self.load(provider, profile) < cap:
                    return profile
            await self._released.wait()  # every open profile is at its cap

    @contextlib.asynccontextmanager
    async def using(self, provider: str, profile: str) -> AsyncIterator[None]:
        """Count a stream on (provider, profile) while it runs (waiting for a slot
        under ``max_streams``)."""
        cap = self._config.provider(provider).max_streams
        key = (provider, profile)
        while cap is not None and self._active.get(key, 0) >= cap:
            await self._released.wait()
        self._active[key] = self._active.get(key, 0) + 1
        try:
            yield
        finally:
            self._active[key] -= 1
            released, self._released = self._released, anyio.Event()
            released.set()

    async def cool(self, provider: str, profile: str, limited: RateLimited) -> None:
        """Rest (provider, profile) for the site's Retry-After (or the configured
        default), in the store for every process."""
        rest = limited.retry_after
        if rest is None:
            rest = self._config.provider(provider).cooldown
        cooldown = Cooldown(provider, profile, self._clock() + rest, "rate limited (429)")
        await self._store.cool_down(provider, profile, cooldown.until, cooldown.reason)
        self._view.cooled(cooldown)
        logger.info("%s/%s: rate limited; resting it for %.0fs", provider, profile, rest)

    async def another_usable(self, provider: str, besides: Collection[str]) -> bool:
        """Whether a profile not in ``besides`` could take a call now."""
        profiles = self._config.provider(provider).profiles
        cooling = {c.profile for c in await self._view.cooldowns(provider)}
        others = [p for p in profiles if p not in besides and p not in cooling]
        usable = await self._usable(provider, others)
        return any(usable.values())

    def in_background(self, work: Callable[[], Awaitable[Any]], what: str) -> None:
        """Run ``work`` (``what``'s re-harvest) while calls go on elsewhere; its failure
        is logged (the profile stays refused, and the next call that needs it says so)."""

        async def run() -> None:
            try:
                await work()
            except Exception as exc:
                logger.warning("%s: the re-harvest in the background failed: %s", what, exc)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _usable(self, provider: str, profiles: Sequence[str]) -> dict[str, bool]:
        now = self._clock()
        found = {}
        for profile in profiles:
            credential = await self._view.get(provider, profile)
            found[profile] = credential is not None and credential.is_usable(now)
        return found

    def _all_cooling(self, provider: str, cooldowns: Sequence[Cooldown]) -> RateLimited:
        first = min(cooldowns, key=lambda c: c.until)
        wait = max(0.0, first.until - self._clock())
        names = ", ".join(c.profile for c in cooldowns)
        return RateLimited(
            f"{provider}: every profile is resting after a rate limit ({names}); "
            f"{first.profile} is free again in {wait:.0f}s",
            retry_after=wait,
        )
