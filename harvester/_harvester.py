"""``Harvester``: runs recipes in a shared Chromium and stores what they collect.

One harvest of a (provider, profile) at a time, everywhere: callers in this process
share an in-flight harvest, and a lease in the store keeps other processes (the daemon,
``harvest refresh``, a client) from starting the same one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import anyio

from client import Config, HarvestRecipe, impersonate_target, load_config, plan_replay
from client.providers import api_calls, provider_names, recipe_for
from fingerprint import Fingerprint
from storage import (
    Attempt,
    Cookie,
    Credential,
    CredentialStatus,
    CredentialStore,
    Lease,
    StorageError,
    holder_name,
    redact_url,
)

from ._browser import BrowserInfo, Chromium, find_chromium
from ._capture import capture_browser
from ._collect import collect
from ._endpoint import FingerprintEndpoint
from ._errors import HarvestBusy, HarvestError, HarvestTimeout, PageError, ProxyFailed
from ._forwarder import ProxyForwarder
from ._pool import BrowserPool
from ._status import relative_time

__all__ = ["Harvester"]

logger = logging.getLogger("harvester")

# How long another process's harvest may take beyond its own timeout (browser start,
# storing) before a waiter gives up on it.
_LEASE_MARGIN = 120.0
_LEASE_POLL = 0.5
# A lease is short and renewed while its harvest runs: one whose holder died unseen
# (on another machine) lapses within this; on this machine a dead holder frees it at once.
_LEASE_TTL = 30.0


class Harvester:
    """Harvests credentials with a real Chromium and stores them.

    Use ``async with Harvester(...) as h`` to keep one browser warm across harvests,
    or just ``await Harvester(...).refresh("provider")`` for a one-shot harvest.
    ``config`` defaults to the same file the CLI reads; ``recipes`` to the built-in
    providers; ``store``, when given, is used and not closed. ``on_attempt`` hears of
    every harvest this harvester makes, as it is recorded (a server's metrics).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: CredentialStore | None = None,
        recipes: Mapping[str, HarvestRecipe] | None = None,
        clock: Callable[[], float] = time.time,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self._config = config
        self._on_attempt = on_attempt
        self._store = store
        self._owns_store = store is None
        self._recipes = recipes
        self._clock = clock
        self.holder = holder_name()
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._limiter: anyio.CapacityLimiter | None = None
        self._pool: BrowserPool | None = None
        self._endpoint: FingerprintEndpoint | None = None
        self._entered = 0

    @property
    def config(self) -> Config:
        if self._config is None:
            raise RuntimeError("the configuration is read on entering the Harvester")
        return self._config

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            raise RuntimeError("the store is opened on entering the Harvester")
        return self._store

    @property
    def browser_launches(self) -> int:
        """How many browsers this harvester has started (for benchmarks and tests)."""
        return self._pool.launches if self._pool is not None else 0

    async def __aenter__(self) -> Self:
        if self._entered == 0:
            if self._config is None:
                known = self.provider_names()
                self._config = await anyio.to_thread.run_sync(
                    lambda: load_config(known_providers=known)
                )
            if self._store is None:
                self._store = await CredentialStore.open(
                    self.config.database, key=self.config.storage.key
                )
            self._limiter = anyio.CapacityLimiter(self.config.harvester.concurrency)
            browser = self.config.browser
            self._endpoint = FingerprintEndpoint(
                bind=browser.capture_bind, host=browser.capture_host
            )
            await anyio.to_thread.run_sync(self._endpoint.start)
            restart_after = self.config.harvester.restart_after
            self._pool = BrowserPool(self._launch, restart_after=restart_after)
        self._entered += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered -= 1
        if self._entered:
            return
        with anyio.CancelScope(shield=True):
            if self._pool is not None:
                await self._pool.aclose()
                self._pool = None
            if self._endpoint is not None:
                await anyio.to_thread.run_sync(self._endpoint.close)
                self._endpoint = None
            if self._owns_store and self._store is not None:
                await self._store.aclose()
                self._store = None

    def now(self) -> float:
        """The harvester's clock (Unix seconds)."""
        return self._clock()

    def provider_names(self) -> list[str]:
        """The providers this harvester can harvest, sorted."""
        return sorted(self._recipes) if self._recipes is not None else provider_names()

    def recipe(self, provider: str) -> HarvestRecipe:
        """The recipe of ``provider``; ``UnknownProvider`` lists the valid ones."""
        return recipe_for(provider, self._recipes)

    async def refresh(self, provider: str, profile: str = "default") -> Credential:
        """Harvest (provider, profile) now and store it; returns the stored credential.

        If this process is already harvesting it, waits for that harvest; if another
        process is, waits for theirs and returns its result. Raises ``HarvestError``
        (the previous credential is left as it was).
        """
        if not self._entered:
            async with self:
                return await self.refresh(provider, profile)
        self.recipe(provider)  # an unknown provider fails before anything else
        key = (provider, profile)
        flight = self._flights.get(key)
        if flight is not None:
            return await flight.wait()
        flight = self._flights[key] = _Flight()
        try:
            credential = await self._leased(provider, profile)
        except BaseException as exc:
            flight.fail(exc)
            raise
        else:
            flight.succeed(credential)
            return credential
        finally:
            del self._flights[key]

    async def _leased(self, provider: str, profile: str) -> Credential:
        recipe = self.recipe(provider)
        started = self._clock()
        assert self._limiter is not None
        while True:
            # The lease is taken only once a harvest slot is ours: waiting for a slot
            # must not keep another process from doing the work.
            async with self._limiter:
                lease = await self.store.acquire(provider, profile, self.holder, _LEASE_TTL)
                if lease is not None:
                    try:
                        async with self._renewed(lease):
                            return await self._harvest(provider, profile, recipe)
                    finally:
                        with anyio.CancelScope(shield=True):
                            await self._release(lease)
            wait = recipe.timeout + _LEASE_MARGIN
            theirs = await self._wait_for_other(provider, profile, started, wait)
            if theirs is not None:
                return theirs
            # Their harvest failed: ours is a fresh attempt.

    @contextlib.asynccontextmanager
    async def _renewed(self, lease: Lease) -> AsyncIterator[None]:
        """Renew ``lease`` in the background while the body (the harvest) runs."""

        async def renew() -> None:
            current: Lease | None = lease
            while current is not None:
                await anyio.sleep(_LEASE_TTL / 3)
                try:
                    current = await self.store.renew(current, _LEASE_TTL)
                except StorageError as exc:
                    logger.warning(
                        "%s/%s: lease not renewed: %s", lease.provider, lease.profile, exc
                    )
                    continue
                if current is None:
                    logger.warning("%s/%s: the lease was taken over", lease.provider, lease.profile)

        error: BaseException | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(renew)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as failed:
            # The renewer never raises: the one exception is the harvest's own.
            if len(failed.exceptions) != 1:
                raise
            error = failed.exceptions[0]
        if error is not None:
            raise error  # as the harvest raised it, its cause kept, no group around it

    async def _release(self, lease: Lease) -> None:
        try:
            await self.store.release(lease)
        except StorageError as exc:
            # Not fatal: the lease lapses, or is freed at once as this process ends.
            logger.warning("%s/%s: lease not released: %s", lease.provider, lease.profile, exc)

    async def _wait_for_other(
        self, provider: str, profile: str, since: float, ttl: float
    ) -> Credential | None:
        logger.info("%s/%s: another process is harvesting it; waiting", provider, profile)
        try:
            with anyio.fail_after(ttl):
                # Only the store knows when another process is done: poll it.
                while await self.store.holder(provider, profile) is not None:  # noqa: ASYNC110
                    await anyio.sleep(_LEASE_POLL)
        except TimeoutError:
            holder = await self.store.holder(provider, profile)
            raise HarvestBusy(
                f"{provider}/{profile}: {holder.holder if holder else 'another process'} "
                f"has been harvesting it for over {ttl:.0f}s"
            ) from None
        credential = await self.store.get(provider, profile)
        if credential is not None and credential.harvested_at >= since:
            return credential
        return None

    async def _harvest(self, provider: str, profile: str, recipe: HarvestRecipe) -> Credential:
        what = f"{provider}/{profile}"
        proxy = self.config.proxy_for(provider)
        started = self._clock()
        clock_start = anyio.current_time()
        assert self._pool is not None
        try:
            async with contextlib.AsyncExitStack() as stack:
                # Chromium takes no proxy password and resolves SOCKS5 names at the proxy:
                # it goes through a loopback forwarder that adds the credentials upstream
                # and resolves as the client's curl does, for this harvest only.
                forwarder = None
                browser_proxy = proxy
                if proxy is not None and _forwarded(proxy):
                    forwarder = await stack.enter_async_context(ProxyForwarder(proxy))
                    browser_proxy = forwarder.url
                browser = await self._pool.acquire()
                try:
                    info = browser.info
                    assert info is not None
                    fingerprint = browser.fingerprint
                    page = await browser.new_page(proxy=browser_proxy)
                    try:
                        seed = await self._kept_cookies(provider, profile, recipe)
                        collected = await collect(page, recipe, info, what=what, seed=seed)
                    except (PageError, HarvestTimeout) as exc:
                        if forwarder is not None and forwarder.failure is not None:
                            # What the page saw as a failed load: the proxy said why.
                            failure = forwarder.failure
                            raise ProxyFailed(f"{what}: {failure}", kind=failure.kind) from exc
                        raise
                    finally:
                        await page.close()
                finally:
                    await self._pool.release(browser)
            now = self._clock()
            credential = await self.store.put(
                Credential(
                    provider=provider,
                    profile=profile,
                    user_agent=info.user_agent,
                    browser_name=_browser_name(info),
                    browser_version=info.version,
                    fingerprint=fingerprint.to_dict() if fingerprint is not None else None,
                    impersonate=impersonate_target(info.major),
                    headers=collected.headers,
                    cookies=collected.cookies,
                    tokens=collected.tokens,
                    # The exit it was harvested through, never its password (the client
                    # takes that from the config, for this same exit only).
                    proxy=redact_url(proxy) if proxy is not None else None,
                    harvested_at=now,
                    expires_at=recipe.expires_at(now, collected.cookies, collected.tokens),
                    status=CredentialStatus.FRESH,
                )
            )
        except BaseException as exc:
            duration = anyio.current_time() - clock_start
            error = _describe(exc, what)
            attempt = Attempt(provider, profile, started, duration, ok=False, error=str(error))
            self._heard(attempt)
            with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
                # A store that fails here (a full disk) must not hide the harvest's error.
                await self.store.record_attempt(attempt)
            logger.warning("harvest of %s failed after %.1fs: %s", what, duration, error)
            if isinstance(exc, Exception) and error is not exc:
                raise error from exc
            raise
        duration = anyio.current_time() - clock_start
        attempt = Attempt(provider, profile, started, duration, ok=True)
        self._heard(attempt)
        await self.store.record_attempt(attempt)
        logger.info(
            "harvested %s in %.1fs: %d cookies, %d headers, %s",
            what,
            duration,
            len(credential.cookies),
            len(credential.headers),
            expiry_text(credential.expires_at, now),
        )
        return credential

    def _heard(self, attempt: Attempt) -> None:
        if self._on_attempt is not None:
            try:
                self._on_attempt(attempt)
            except Exception:
                # An observer's bug must not turn a harvest into a failure.
                logger.exception("the harvest observer failed")

    async def _kept_cookies(
        self, provider: str, profile: str, recipe: HarvestRecipe
    ) -> list[Cookie]:
        """The stored cookies the recipe keeps across harvests (a login), unexpired."""
        if not recipe.keep_cookies:
            return []
        stored = await self.store.get(provider, profile)
        if stored is None:
            return []
        now = self._clock()
        return [
            c for c in stored.cookies if c.name in recipe.keep_cookies and not c.is_expired(now)
        ]

    async def _launch(self) -> Chromium:
        browser = self.config.browser
        endpoint = self._endpoint
        assert endpoint is not None
        if browser.cdp is not None:
            # Someone else's browser: attached to, never launched or stopped by us.
            chromium = await Chromium.attach(browser.cdp)
            logger.info(
                "attached to %s (%s)", chromium.name, chromium.info and chromium.info.product
            )
        else:
            executable = await anyio.to_thread.run_sync(find_chromium, browser.executable)
            args = [*browser.args, *endpoint.browser_args]
            chromium = await Chromium.launch(executable, headless=browser.headless, args=args)
            logger.debug("started %s (%s)", chromium.name, chromium.info and chromium.info.product)
        try:
            capture = await capture_browser(chromium, endpoint, calls=api_calls())
        except (TimeoutError, PageError) as exc:
            # Harvests still work; the client then falls back to the nearest target.
            logger.warning(
                "could not capture Chromium's TLS/HTTP2 fingerprint (%s); credentials from "
                "this browser will use curl_cffi's nearest target",
                exc or type(exc).__name__,
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await chromium.close()
            raise
        else:
            chromium.fingerprint = capture.fingerprint
            _report(chromium, capture.fingerprint)
        return chromium


class _Flight:
    """One in-flight harvest that other callers in this process wait on."""

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._credential: Credential | None = None
        self._error: BaseException | None = None

    def succeed(self, credential: Credential) -> None:
        self._credential = credential
        self._done.set()

    def fail(self, error: BaseException) -> None:
        # A cancellation belongs to the leader's task; the others get a plain error.
        if not isinstance(error, Exception):
            error = HarvestError("the harvest these callers waited on was cancelled")
        self._error = error
        self._done.set()

    async def wait(self) -> Credential:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._credential is not None
        return self._credential


def _report(chromium: Chromium, fingerprint: Fingerprint) -> None:
    """Log the captured fingerprint; warn once per browser start about what the client
    cannot replay (``harvest status`` says it per credential)."""
    info = chromium.info
    assert info is not None
    replay = plan_replay(fingerprint, impersonate_target(info.major))
    logger.info(
        "Chromium %s: JA4 %s, Akamai %s, %d API calls captured",
        info.version,
        fingerprint.ja4,
        fingerprint.akamai,
        len(fingerprint.calls),
    )
    if not replay.exact:
        logger.warning(
            "Chromium %s's fingerprint can be replayed only in part: %s",
            info.version,
            replay.describe(),
        )


def _forwarded(proxy: str) -> bool:
    """Whether the browser reaches ``proxy`` through the loopback forwarder."""
    parts = urlsplit(proxy)
    return bool(parts.username or parts.password) or parts.scheme in ("socks5", "socks5h")


def _browser_name(info: BrowserInfo) -> str:
    brands = {b.get("brand") for b in info.metadata.get("brands", [])}
    return "Chrome" if "Google Chrome" in brands else "Chromium"


def _describe(exc: BaseException, what: str) -> HarvestError:
    """The error to record and raise for a failed harvest (never a secret)."""
    if isinstance(exc, HarvestError):
        return exc
    if not isinstance(exc, Exception):
        return HarvestError(f"{what}: cancelled")
    if isinstance(exc, StorageError):
        return HarvestError(f"{what}: the credential store failed: {exc}")
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return HarvestError(f"{what}: unexpected {type(exc).__name__}{': ' + text if text else ''}")


def expiry_text(expires_at: float | None, now: float) -> str:
    """``"expires in 29m"`` or ``"no expiry"``, for progress and log lines."""
    return "no expiry" if expires_at is None else f"expires {relative_time(expires_at, now)}"
