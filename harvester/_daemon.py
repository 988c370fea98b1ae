"""``harvest daemon``: keep every enabled (provider, profile) fresh until stopped.

One task group holds one keeper per (provider, profile), which sleeps until the
credential is due (``expires_at - refresh_before_expiry``, jittered) or a refresh
request wakes it, and one poller that claims refresh requests from the store. Failed
harvests back off exponentially. The harvester caps how many run at once. A store that
fails (a full disk, an I/O error) is logged in one line and tried again with backoff:
the daemon keeps running.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from anyio import CancelScope

from client import Config
from storage import Credential, Lease, RefreshRequest, StorageError, describe_database

from ._errors import DaemonRunning, HarvestError
from ._harvester import Harvester

__all__ = ["Daemon", "next_delay"]

logger = logging.getLogger("harvester.daemon")

T = TypeVar("T")

_JITTER = 0.1
# A claim on a refresh request lasts this long; each poll renews the daemon's own, so
# only a daemon that stopped polling (a dead one on another machine) lets it lapse.
_CLAIM_TTL = 60.0
# Retrying a failing store: first after 1 s, doubling up to a minute.
_STORE_RETRY, _STORE_RETRY_MAX = 1.0, 60.0


def next_delay(
    credential: Credential | None,
    now: float,
    *,
    before: float,
    failures: int,
    backoff: float,
    backoff_max: float,
    rng: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds until (provider, profile) should be harvested again.

    After ``failures`` failed harvests in a row: ``backoff`` doubling per failure,
    capped at ``backoff_max``. Otherwise: now if there is no usable credential, never
    if it does not expire, else ``before`` seconds ahead of expiry. Each delay is
    jittered by +-10 % so many profiles do not harvest in lockstep; a jittered refresh
    still lands at least ``before / 2`` ahead of expiry.
    """
    if failures > 0:
        return min(backoff * 2.0 ** (failures - 1), backoff_max) * rng(1 - _JITTER, 1 + _JITTER)
    if credential is None or not credential.is_usable(now):
        return 0.0
    if credential.expires_at is None:
        return math.inf
    due = credential.expires_at - before - now
    if due <= 0:
        return 0.0
    latest = credential.expires_at - before / 2 - now
    return min(due * rng(1 - _JITTER, 1 + _JITTER), latest)


@dataclass
class _Target:
    provider: str
    profile: str
    wake: anyio.Event = field(default_factory=anyio.Event)
    # id -> a usable credential harvested after this answers the request
    requests: dict[int, float] = field(default_factory=dict)
    due_at: float = 0.0  # when the schedule wants the next harvest
    keeper: Lease | None = None  # this daemon keeps it (in a fleet, one daemon does)
    elsewhere: bool = False  # another daemon of the fleet keeps it

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.profile}"


class Daemon:
    """The scheduler; ``run`` until cancelled (or a signal when ``handle_signals``)."""

    def __init__(self, harvester: Harvester, config: Config) -> None:
        self.harvester = harvester
        self.config = config
        self.targets: dict[tuple[str, str], _Target] = {}
        self._claimed: set[int] = set()  # ids of our live claims: a renewal is no news

    def _enabled(self) -> Iterator[tuple[str, str]]:
        for provider in self.harvester.provider_names():
            settings = self.config.provider(provider)
            if settings.enabled:
                for profile in settings.profiles:
                    yield provider, profile

    async def run(self, *, handle_signals: bool = True) -> None:
        store = self.harvester.store
        holder = await store.claim_daemon()
        if holder is not None:
            pid = holder if holder > 0 else "unknown"
            raise DaemonRunning(
                f"another harvest daemon (pid {pid}) is already running on "
                f"{describe_database(self.config.database)}; stop it first, or use "
                "`harvest refresh` for a one-off harvest (the running daemon serves clients)"
            )
        try:
            await self.keep(handle_signals=handle_signals)
        finally:
            await store.release_daemon()

    async def keep(self, *, handle_signals: bool = False) -> None:
        """The daemon's work, for a caller that holds the store's daemon claim (``run``,
        or ``harvest serve``), until cancelled."""
        try:
            self.targets = {key: _Target(*key) for key in self._enabled()}
            logger.info(
                "daemon started (pid %d) on %s: %s",
                os.getpid(),
                describe_database(self.config.database),
                ", ".join(t.name for t in self.targets.values()) or "no enabled providers",
            )
            async with anyio.create_task_group() as group:
                if handle_signals:
                    group.start_soon(_stop_on_signal, group.cancel_scope)
                group.start_soon(self._poll_requests, group)
                for target in self.targets.values():
                    group.start_soon(self._keep, target)
        finally:
            logger.info("daemon stopped")

    async def _keep(self, target: _Target) -> None:
        """Harvest ``target`` whenever it is due or requested, forever, while this
        daemon holds its keeper lease (another daemon of a fleet may hold it: then wait
        to take over when that one stops renewing). The lease is renewed beside, so a
        long harvest never lets it lapse."""
        async with anyio.create_task_group() as group:
            await group.start(self._keep_lease, target)
            await self._keep_schedule(target)

    async def _keep_lease(
        self, target: _Target, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        """Take or renew ``target``'s keeper lease every third of its time; wake the
        keeper when that changes. Released on the way out (a clean stop hands it over
        at once, not at its lapse)."""
        try:
            await self._hold(target)
            task_status.started()
            while True:
                await anyio.sleep(self.config.harvester.keeper_ttl / 3)
                held = target.keeper is not None
                if await self._hold(target) != held:
                    target.wake.set()
        finally:
            if target.keeper is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
                    await self.harvester.store.release(target.keeper)
                target.keeper = None

    async def _keep_schedule(self, target: _Target) -> None:
        settings = self.config.provider(target.provider)
        tuning = self.config.harvester
        failures = 0
        store = self.harvester.store
        while True:
            if target.keeper is None:
                await target.wake.wait()  # the lease keeper wakes it on a take-over
                target.wake = anyio.Event()
                continue
            credential = await _patiently(store.get, target.provider, target.profile)
            delay = next_delay(
                credential,
                self.harvester.now(),
                before=settings.refresh_before_expiry,
                failures=failures,
                backoff=tuning.backoff,
                backoff_max=tuning.backoff_max,
            )
            target.due_at = self.harvester.now() + delay
            if not target.requests:
                if delay > 0:
                    logger.debug("%s: next harvest in %.0fs", target.name, delay)
                with anyio.move_on_after(delay):
                    await target.wake.wait()
                target.wake = anyio.Event()
                if not target.requests and not self._due(target):
                    continue
            if target.requests and await self._answered(target) and not self._due(target):
                continue  # a harvest that landed after every request answers them all
            started = self.harvester.now()
            try:
                await self.harvester.refresh(target.provider, target.profile)
            except HarvestError:
                failures += 1  # the harvester has logged it and recorded the attempt
            except StorageError as exc:
                failures += 1
                logger.warning("%s: the credential store failed: %s", target.name, exc)
            else:
                failures = 0
            # Requests made before this harvest began are answered by it, even by its
            # failure (the client sees no new generation and reports its own error);
            # keeping them would retry at once and skip the backoff.
            served = [rid for rid, at in target.requests.items() if at <= started]
            for rid in served:
                del target.requests[rid]
                await _patiently(store.finish_refresh, rid)

    async def _hold(self, target: _Target) -> bool:
        """Take or renew ``target``'s keeper lease: whether this daemon keeps it now."""
        ttl = self.config.harvester.keeper_ttl
        lease = await _patiently(
            self.harvester.store.acquire,
            target.provider,
            target.profile,
            self.harvester.holder,
            ttl,
            keeper=True,
        )
        if lease is None and not target.elsewhere:
            logger.info("%s: kept by another daemon of the fleet", target.name)
        elif lease is not None and target.elsewhere:
            logger.info("%s: taken over from another daemon, which stopped keeping it", target.name)
        target.keeper, target.elsewhere = lease, lease is None
        return lease is not None

    async def _answered(self, target: _Target) -> bool:
        """Finish the requests the stored credential already answers (newer than the one
        its asker found wanting: another client's harvest landing while it asked): True
        if none is left."""
        store = self.harvester.store
        current = await _patiently(store.get, target.provider, target.profile)
        if current is None or not current.is_usable(self.harvester.now()):
            return False
        answered = [rid for rid, at in target.requests.items() if current.harvested_at > at]
        for rid in answered:
            del target.requests[rid]
            await _patiently(store.finish_refresh, rid)
        return not target.requests

    def _due(self, target: _Target) -> bool:
        """Whether the schedule (not a request) wants a harvest now."""
        return target.due_at <= self.harvester.now()

    async def _poll_requests(self, group: anyio.abc.TaskGroup) -> None:
        """Claim refresh requests from the store and wake the keepers they name."""
        store = self.harvester.store
        interval = self.config.harvester.poll_interval
        while True:
            # Not the requests of what another daemon of a fleet keeps: it serves them.
            theirs = [key for key, t in self.targets.items() if t.elsewhere]
            claimed = await _patiently(
                store.take_refresh_requests, self.harvester.holder, ttl=_CLAIM_TTL, skip=theirs
            )
            for request in claimed:
                target = self.targets.get((request.provider, request.profile))
                if request.id in self._claimed:
                    # Our own claim, renewed: its keeper is awake, but another asker may
                    # have joined it since, wanting a newer credential.
                    if target is not None and request.id in target.requests:
                        target.requests[request.id] = request.answered_after
                    continue
                self._claimed.add(request.id)
                if target is not None:
                    logger.info("%s: refresh requested (%s)", target.name, request.reason)
                    target.requests[request.id] = request.answered_after
                    target.wake.set()
                else:
                    group.start_soon(self._serve_once, request)
            # Forget the finished ones: only a claim still renewed can come back.
            self._claimed.intersection_update(request.id for request in claimed)
            await anyio.sleep(interval)

    async def _serve_once(self, request: RefreshRequest) -> None:
        """A request for a (provider, profile) the daemon does not schedule."""
        name = f"{request.provider}/{request.profile}"
        settings = self.config.provider(request.provider)
        known = request.provider in self.harvester.provider_names()
        if known and settings.enabled:
            logger.info("%s: refresh requested (%s)", name, request.reason)
            try:
                await self.harvester.refresh(request.provider, request.profile)
            except HarvestError:
                pass  # logged and recorded by the harvester
            except StorageError as exc:
                logger.warning("%s: the credential store failed: %s", name, exc)
        else:
            logger.warning("%s: refresh request dropped: provider unknown or disabled", name)
        await _patiently(self.harvester.store.finish_refresh, request)


async def _patiently(call: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """``call`` until the store answers: each failure is one log line, then a wait
    that doubles from 1 s to a minute."""
    delay = _STORE_RETRY
    while True:
        try:
            return await call(*args, **kwargs)
        except StorageError as exc:
            logger.warning("credential store failed: %s; retrying in %.0fs", exc, delay)
        await anyio.sleep(delay)
        delay = min(delay * 2, _STORE_RETRY_MAX)


async def _stop_on_signal(scope: CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            logger.info("daemon stopping (%s)", signal.Signals(received).name)
            scope.cancel()
            return
