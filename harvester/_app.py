"""The application layer: the product opened from one config, for the CLI and a server.

``App`` opens the store once and hands it to everything it makes: the client, the
harvester, the daemon. It decides how a missing or rejected credential gets replaced:
in-process with Chromium (``AnnouncedRefresher``, which says what it does), or by a
refresh request that a running daemon serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

import anyio

from client import AsyncClient, Config, HarvestRecipe, Refresher
from client.providers import recipe_for, recipes
from storage import Attempt, Credential, CredentialStore

from ._daemon import Daemon
from ._harvester import Harvester, expiry_text

__all__ = ["AnnouncedRefresher", "App"]

logger = logging.getLogger("harvester.app")


class AnnouncedRefresher:
    """An in-process refresher that reports each harvest through ``say`` (the CLI
    prints to stderr; a server logs)."""

    def __init__(self, harvester: Harvester, say: Callable[[str], None]) -> None:
        self._harvester = harvester
        self._say = say

    async def refresh(self, provider: str, profile: str = "default") -> Credential:
        name = f"{provider}/{profile}"
        self._say(f"getting a credential for {name} with Chromium...")
        started = anyio.current_time()
        credential = await self._harvester.refresh(provider, profile)
        took = anyio.current_time() - started
        expiry = expiry_text(credential.expires_at, self._harvester.now())
        self._say(f"harvested {name} in {took:.1f}s, {expiry}")
        return credential


class App:
    """Store, harvester and clients made from one ``Config``, sharing one store.

    ``known`` replaces the built-in providers' recipes (harvest-only sites such as
    the tests' own); ``on_attempt`` hears of every harvest the app's harvester makes.
    Nothing is opened before ``async with``; the harvester starts no browser until a
    harvest needs one.
    """

    def __init__(
        self,
        config: Config,
        *,
        known: Mapping[str, HarvestRecipe] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.config = config
        self.recipes = recipes() if known is None else known
        self.on_attempt = on_attempt  # settable until the harvester is first used
        self._store: CredentialStore | None = None
        self._harvester: Harvester | None = None

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            raise RuntimeError("the store is opened on entering the App")
        return self._store

    @property
    def harvester(self) -> Harvester:
        """The in-process harvester (its browser starts with the first harvest)."""
        if self._harvester is None:
            self._harvester = Harvester(
                self.config, store=self.store, recipes=self.recipes, on_attempt=self.on_attempt
            )
        return self._harvester

    def enabled_providers(self) -> list[str]:
        """The providers the config leaves enabled, sorted: what is kept and served."""
        return [name for name in sorted(self.recipes) if self.config.provider(name).enabled]

    def recipe(self, provider: str) -> HarvestRecipe:
        """The recipe of ``provider``; ``UnknownProvider`` lists the valid ones (usable
        before entering, so a usage error opens nothing)."""
        return recipe_for(provider, self.recipes)

    async def __aenter__(self) -> Self:
        self._store = await CredentialStore.open(self.config.database, key=self.config.storage.key)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            if self._store is not None:
                await self._store.aclose()
                self._store = None

    async def refresher(self, say: Callable[[str], None]) -> Refresher | None:
        """How a client here replaces a credential: ``None`` when a running daemon serves
        this store's refresh requests, else an in-process harvest announced through
        ``say``."""
        daemon = await self.store.running_daemon()
        if daemon is not None:
            logger.debug("the daemon (pid %d) serves refresh requests", daemon)
            return None
        return AnnouncedRefresher(self.harvester, say)

    def client(self, refresher: Refresher | None = None) -> AsyncClient:
        """A client on this app's store (enter it with ``async with``)."""
        return AsyncClient(self.config, store=self.store, refresher=refresher)

    async def run_daemon(self, *, handle_signals: bool = True) -> None:
        """Keep every enabled credential fresh until cancelled (or SIGINT/SIGTERM)."""
        async with self.harvester as harvester:
            await Daemon(harvester, self.config).run(handle_signals=handle_signals)
