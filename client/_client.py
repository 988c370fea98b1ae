"""``AsyncClient``: stream answers from a provider with a harvested credential.

Around each provider adapter it does what every provider needs: find the credential
(or get one), retry connection errors and 5xx with backoff while nothing reached the
caller yet, and on a rejected credential get a new one once (through the injected
refresher, else through a refresh request a running daemon serves) and try again.
Callers that hit the same rejection at once share one harvest.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
import time
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import anyio

from storage import Credential, CredentialStatus, CredentialStore

from ._config import Config, load_config
from ._errors import (
    ClientError,
    CredentialRejected,
    NetworkError,
    NoCredential,
    RateLimited,
    ServerError,
    StreamBroken,
    StreamTimeout,
    UnknownModel,
)
from ._events import Event, Reasoning
from ._http import HTTPTransport
from ._openai import AsyncChat
from ._profiles import ProfilePool
from ._provider import ChatRequest, Message, Provider, normalize_messages
from ._retry import RetryPolicy
from ._session import ProviderSession
from ._transport import Transport
from ._view import CredentialView
from .providers import provider_class, provider_names

__all__ = ["AsyncClient", "Refresher"]

logger = logging.getLogger("client")

# A live model list is good for this long.
_MODELS_TTL = 3600.0
# How often a client waiting for the daemon looks at the store.
_REFRESH_POLL = 0.25
# Renewals one call may make: each for a credential newer than the one refused, so only
# a site that refuses every credential, or revokes faster than renewals land, needs more.
_MAX_RENEWALS = 3


class _MovedOn(Exception):
    """A refused profile handed its call to another one (it is being re-harvested)."""


class Refresher(Protocol):
    """Gets a new credential now (the in-process ``harvester.Harvester`` is one)."""

    async def refresh(self, provider: str, profile: str = "default") -> Credential: ...


class AsyncClient:
    """Streams typed events from providers with harvested credentials.

    ``config``: a ``Config``, a path to a TOML file, or ``None`` for the file the CLI
    reads. ``refresher``: gets a new credential in-process when one is missing or
    rejected; without it the client asks a running ``harvest daemon`` through the store.
    ``store`` and ``transport`` (the curl_cffi ``Transport`` built from the config by
    default), when given, are used and not closed.
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        store: CredentialStore | None = None,
        refresher: Refresher | None = None,
        transport: HTTPTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config if isinstance(config, Config) else None
        self._config_path = None if isinstance(config, Config) else config
        self._store = store
        self._owns_store = store is None
        self._refresher = refresher
        self._clock = clock
        self._rng = rng
        self._transport = transport
        self._owns_transport = transport is None
        self._providers: dict[str, Provider] = {}
        self._live: dict[str, tuple[float, list[str]]] = {}
        self._renewing: dict[tuple[str, str], anyio.Lock] = {}
        # The credential each (provider, profile) got from this client's latest
        # renewal: callers queued behind it take it without a store read each.
        self._renewed: dict[tuple[str, str], Credential] = {}
        self._view: CredentialView | None = None
        self._profiles: ProfilePool | None = None
        self._retry: dict[str, RetryPolicy] = {}  # per provider, from the config
        self.chat = AsyncChat(self)

    @property
    def config(self) -> Config:
        if self._config is None:
            raise RuntimeError("the configuration is read on entering the client")
        return self._config

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            raise RuntimeError("the store is opened on entering the client")
        return self._store

    @property
    def refresher(self) -> Refresher | None:
        """How a missing or rejected credential is replaced: in-process through this, or
        (``None``) by a running daemon. A server that takes over the daemon's work sets it."""
        return self._refresher

    @refresher.setter
    def refresher(self, refresher: Refresher | None) -> None:
        self._refresher = refresher

    async def __aenter__(self) -> Self:
        if self._config is None:
            self._config = await anyio.to_thread.run_sync(
                functools.partial(load_config, self._config_path, known_providers=provider_names())
            )
        if self._store is None:
            self._store = await CredentialStore.open(
                self.config.database, key=self.config.storage.key
            )
        self._view = CredentialView(
            self._store, flush_every=self.config.client.write_back_interval, clock=self._clock
        )
        await self._view.listen()
        self._profiles = ProfilePool(self.config, self._store, self._view, self._clock)
        if self._transport is None:
            network = self.config.network
            self._transport = Transport(
                self.config.client,
                ca_bundle=network.ca_bundle,
                proxy_for=self.config.proxy_for,
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Write back what the view holds, close the HTTP sessions and (if it opened it)
        the store."""
        with anyio.CancelScope(shield=True):
            if self._profiles is not None:
                await self._profiles.aclose()
                self._profiles = None
            if self._view is not None:
                await self._view.aclose()
                self._view = None
            if self._owns_transport and self._transport is not None:
                await self._transport.aclose()
                self._transport = None
            if self._owns_store and self._store is not None:
                await self._store.aclose()
                self._store = None

    def provider(self, name: str) -> Provider:
        """The adapter of provider ``name``; ``UnknownProvider`` lists the valid ones."""
        adapter = self._providers.get(name)
        if adapter is None:
            adapter = self._providers[name] = provider_class(name)()
        return adapter

    async def models(self, provider: str, *, profile: str = "default") -> list[str]:
        """The provider's model ids: the site's live list when it has one and it can be
        read (cached for an hour), else the built-in list (with a logged warning)."""
        adapter = self.provider(provider)
        live = await self._live_models(adapter, profile)
        return live if live is not None else list(adapter.models)

    async def resolve_model(
        self, provider: str, model: str | None, *, profile: str = "default"
    ) -> str:
        """The provider's id for ``model``; ``UnknownModel`` lists the valid names."""
        adapter = self.provider(provider)
        cached = self._cached_live(adapter.name)
        try:
            return adapter.resolve_model(model, cached or ())
        except UnknownModel:
            if cached is not None:
                raise
            # Maybe the site knows a model the built-in list does not: ask it once.
            live = await self._live_models(adapter, profile)
            return adapter.resolve_model(model, live or ())

    async def stream(
        self,
        provider: str,
        messages: str | Sequence[Mapping[str, Any] | Message],
        *,
        model: str | None = None,
        profile: str | None = None,
        **options: Any,
    ) -> AsyncGenerator[Event, None]:
        """Send a chat and yield its events as they arrive.

        ``profile``: that credential profile; ``None`` picks among the provider's
        configured ``profiles``: a usable one, the least loaded first, none that is
        cooling down after a 429 (a 429 before the first event cools that profile for
        its Retry-After, or ``[providers.NAME] cooldown``, and the call moves on; a
        refused profile is re-harvested while another serves); with every profile
        cooling, ``RateLimited`` carries the earliest retry time.

        ``messages`` are OpenAI-style dicts (or one string: a user message). Raises
        ``UnknownProvider``/``UnknownModel`` before sending anything, ``NoCredential``,
        ``CredentialRejected`` (after one refresh and retry), ``RateLimited``,
        ``ProviderError``, ``StreamTimeout``, ``NetworkError``; ``StreamBroken`` when
        the stream stops after part of the answer reached the caller (it stands:
        nothing is repeated). Status lines (``Reasoning``) are not the answer: a
        failure after them alone is retried like one before any event.
        """
        adapter = self.provider(provider)
        profiles = self.config.provider(adapter.name).profiles
        request = ChatRequest(
            model=await self.resolve_model(provider, model, profile=profile or profiles[0]),
            messages=normalize_messages(messages),
            options=options,
        )
        if profile is not None:
            async with self._pool.using(adapter.name, profile):
                async for event in self._stream_on(adapter, profile, request):
                    yield event
            return
        moved_from: set[str] = set()
        limited: RateLimited | None = None  # the site's latest 429 to this call
        while True:
            try:
                chosen = await self._pool.pick(adapter.name, profiles, moved_from)
            except RateLimited as resting:
                if limited is None:
                    raise
                raise RateLimited(
                    f"{limited}; {resting}", retry_after=resting.retry_after, body=limited.body
                ) from limited
            async with self._pool.using(adapter.name, chosen):
                try:
                    async for event in self._stream_on(adapter, chosen, request, moved_from):
                        yield event
                    return
                except RateLimited as exc:
                    limited = exc  # that profile rests now: the next one
                    moved_from.add(chosen)
                except _MovedOn:
                    moved_from.add(chosen)  # being re-harvested: the next one

    async def _stream_on(
        self,
        adapter: Provider,
        profile: str,
        request: ChatRequest,
        moved_from: Collection[str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """``stream`` on one profile: retries, one renewal on a refusal. Picked from a
        pool (``moved_from``: the profiles the call left), a refusal hands the call to
        another usable profile instead, when there is one."""
        credential = await self._credential(adapter, profile)
        policy = self.retry_policy(adapter.name)
        renewals = 0
        previous_refusal = -math.inf  # when the request the last renewal followed went out
        failures = 0
        while True:
            session = self._session(adapter, credential)
            delivered = 0
            answered = False  # a status line can be said again; an answer cannot
            try:
                async for event in adapter.stream(session, request):
                    delivered += 1
                    answered = answered or not isinstance(event, Reasoning)
                    yield event
                return
            except RateLimited as exc:
                if answered:
                    raise
                await self._pool.cool(adapter.name, profile, exc)
                raise
            except CredentialRejected as exc:
                if answered:
                    raise
                refused = session.credential
                if renewals and (
                    refused.harvested_at > previous_refusal or renewals >= _MAX_RENEWALS
                ):
                    raise CredentialRejected(
                        f"{exc}, even with a credential harvested just now",
                        status=exc.status,
                        body=exc.body,
                    ) from exc
                # A renewal that predates the last refusal (another caller's, landing
                # meanwhile) was never tried on this site: one revocation may have caught
                # it too, so its refusal earns another renewal, not an error.
                renewals += 1
                previous_refusal = (
                    session.last_sent if session.last_sent is not None else self._clock()
                )
                renewal = functools.partial(self._replace, adapter, profile, refused, exc)
                pooled = moved_from is not None
                if pooled and await self._pool.another_usable(
                    adapter.name, {profile, *(moved_from or ())}
                ):
                    # The others keep serving while this one is harvested again.
                    self._pool.in_background(renewal, f"{adapter.name}/{profile}")
                    raise _MovedOn from exc
                credential = await renewal()
            except (NetworkError, StreamTimeout, ServerError) as exc:
                if answered:
                    raise StreamBroken(
                        f"{adapter.name}: the stream broke after {delivered} events: {exc}",
                        delivered=delivered,
                    ) from exc
                failures += 1
                if failures > policy.retries:
                    raise
                delay = policy.delay(failures, self._rng)
                logger.info(
                    "%s: %s; attempt %d of %d in %.2fs",
                    adapter.name,
                    exc,
                    failures + 1,
                    policy.attempts,
                    delay,
                )
                await anyio.sleep(delay)
                credential = session.credential

    # -- credentials -----------------------------------------------------------------

    @property
    def _pool(self) -> ProfilePool:
        if self._profiles is None:
            raise RuntimeError("enter the client first (async with)")
        return self._profiles

    @property
    def view(self) -> CredentialView:
        """The credentials as this client uses them (in memory, written back in batches)."""
        if self._view is None:
            raise RuntimeError("enter the client first (async with)")
        return self._view

    def _session(self, adapter: Provider, credential: Credential) -> ProviderSession:
        assert self._transport is not None, "enter the client first (async with)"
        return ProviderSession(
            adapter,
            credential,
            transport=self._transport,
            store=self.store,
            view=self.view,
            clock=self._clock,
        )

    async def _credential(self, adapter: Provider, profile: str) -> Credential:
        """The stored credential; a new one first if it is missing (or, with an
        in-process refresher, stale or expired)."""
        credential = await self.view.get(adapter.name, profile)
        if credential is None:
            return await self._replace(adapter, profile, None, None)
        if not credential.is_usable(self._clock()) and self._refresher is not None:
            return await self._replace(adapter, profile, credential, None)
        # Without a refresher, try it: the site decides, and a rejection asks for one.
        return credential

    async def _replace(
        self,
        adapter: Provider,
        profile: str,
        old: Credential | None,
        rejection: CredentialRejected | None,
    ) -> Credential:
        """A credential newer than ``old`` (missing, stale or ``rejection``'s): one
        harvest however many ask at once."""
        name = adapter.name
        since = old.harvested_at if old is not None else -math.inf
        key = (name, profile)
        lock = self._renewing.setdefault(key, anyio.Lock())
        async with lock:
            renewed = self._renewed.get(key)
            if renewed is not None and self._usable_since(renewed, since):
                return renewed
            if (current := await self._newer(name, profile, since)) is not None:
                return current  # another caller got a new one while we waited
            if rejection is not None and old is not None:
                # By harvest, not generation: a cookie write-back must not undo it.
                await self.store.mark(
                    name,
                    profile,
                    CredentialStatus.STALE,
                    str(rejection)[:200],
                    harvested_at=old.harvested_at,
                )
                self.view.forget(name, profile)
            renewed = self._renewed[key] = await self._harvest(name, profile, since, rejection)
            self.view.forget(name, profile)  # the next stream reads the new one
            return renewed

    async def _harvest(
        self, name: str, profile: str, since: float, rejection: CredentialRejected | None
    ) -> Credential:
        if rejection is not None:
            reason = str(rejection)
        elif since == -math.inf:
            reason = "no credential yet"
        else:
            reason = "the credential is stale or expired"
        command = f"harvest refresh {name}" + (
            f" --profile {profile}" if profile != "default" else ""
        )
        if self._refresher is not None:
            logger.info("%s/%s: harvesting (%s)", name, profile, reason)
            return await self._refresher.refresh(name, profile)
        pid = await self.store.running_daemon()
        if pid is None:
            if since == -math.inf:
                raise NoCredential(
                    f"no credential for {name}/{profile} yet; run `{command}` "
                    "(or keep `harvest daemon` running)"
                )
            raise CredentialRejected(
                f"{reason}; no harvest daemon is running to renew it: run `{command}` "
                "(or start `harvest daemon`)",
                status=rejection.status if rejection else None,
                body=rejection.body if rejection else "",
            )
        request = await self.store.request_refresh(
            name, profile, reason[:200], newer_than=since if since > -math.inf else None
        )
        timeout = self.config.client.refresh_timeout
        logger.info("%s/%s: asked the daemon (pid %d) for a new credential", name, profile, pid)
        with anyio.move_on_after(timeout):
            while True:
                await anyio.sleep(_REFRESH_POLL)
                if (current := await self._newer(name, profile, since)) is not None:
                    # Another harvest answered: the daemon need not make one more.
                    await self.store.withdraw_refresh(request)
                    return current
                pending = {r.id for r in await self.store.pending_refreshes()}
                if request.id not in pending:
                    # Served: its credential may have landed since the read above.
                    if (current := await self._newer(name, profile, since)) is not None:
                        return current
                    # Served, and still no new credential: the daemon's harvest failed.
                    failed = await self.store.recent_attempts(name, profile, limit=1)
                    error = failed[0].error if failed and not failed[0].ok else "unknown error"
                    raise CredentialRejected(
                        f"{name}/{profile}: the daemon's harvest failed: {error}"
                    )
        await self.store.withdraw_refresh(request)
        raise CredentialRejected(
            f"{name}/{profile}: the daemon (pid {pid}) made no new credential within "
            f"{timeout:g}s; see its log, or run `{command}`"
        )

    async def _newer(self, name: str, profile: str, since: float) -> Credential | None:
        """The stored credential if it was harvested after ``since`` and is usable (read
        now: after a refusal, memory is not trusted)."""
        current = await self.view.fresh(name, profile)
        return current if current is not None and self._usable_since(current, since) else None

    def _usable_since(self, credential: Credential, since: float) -> bool:
        """Whether ``credential`` was harvested after ``since`` and is usable now."""
        return credential.harvested_at > since and credential.is_usable(self._clock())

    # -- models ----------------------------------------------------------------------

    def _cached_live(self, name: str) -> list[str] | None:
        cached = self._live.get(name)
        if cached is None or self._clock() - cached[0] > _MODELS_TTL:
            return None
        return cached[1]

    async def _live_models(self, adapter: Provider, profile: str) -> list[str] | None:
        cached = self._cached_live(adapter.name)
        if cached is not None:
            return cached
        if type(adapter).fetch_models is Provider.fetch_models:
            return None  # the site has no model list
        credential = await self.view.get(adapter.name, profile)
        if credential is None:
            logger.warning(
                "%s: no credential yet to read the live model list; using the built-in list",
                adapter.name,
            )
            return None
        try:
            live = await adapter.fetch_models(self._session(adapter, credential))
        except ClientError as exc:
            logger.warning(
                "%s: could not read the live model list (%s); using the built-in list",
                adapter.name,
                exc,
            )
            return None
        if live:
            self._live[adapter.name] = (self._clock(), live)
        return live

    def retry_policy(self, provider: str) -> RetryPolicy:
        """How ``provider``'s failed attempts are retried: its ``[providers.NAME]``
        overrides over its own documented rule, else over ``[client]``'s."""
        policy = self._retry.get(provider)
        if policy is None:
            own = self.provider(provider).documented_retry or self.config.client.default_retry
            policy = self._retry[provider] = self.config.provider(provider).override_retry(own)
        return policy
