"""What ``harvest serve`` answers, without the web framework: models, chats and images
from one ``AsyncClient`` on the app's store, counted in the server's metrics."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import anyio

from client import (
    AsyncClient,
    ChatCompletion,
    Event,
    ImageResponse,
    Provider,
    UnknownModel,
    UnknownProvider,
    collect_completion,
    completion_chunks,
)
from storage import Credential, StorageError

from ._api import ApiError, ChatParams, ImageParams, error_for, split_model
from ._app import App
from ._metrics import Metrics

__all__ = ["Service"]

logger = logging.getLogger("harvester.serve")


class Service:
    """The API's operations on ``app`` through ``client`` (both entered by the caller)."""

    def __init__(self, app: App, client: AsyncClient, metrics: Metrics) -> None:
        self.app = app
        self.client = client
        self.metrics = metrics
        self.started = int(time.time())
        self.providers = app.enabled_providers()  # the ones served

    def _profile(self, provider: str) -> str:
        return self.app.config.provider(provider).profiles[0]

    def adapter(self, provider: str) -> Provider:
        if provider not in self.providers:
            raise UnknownProvider(provider, self.providers)
        return self.client.provider(provider)  # a harvest-only recipe is not one

    # -- health --------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the store answers, and each provider's freshest credential."""
        try:
            await self.app.store.check()
            credentials = await self.app.store.list()
        except StorageError as exc:
            return False, {"status": "unavailable", "error": str(exc)}
        now = time.time()
        providers = {
            name: {
                "fresh": count > 0,
                "expires_at": _iso(expires) if expires is not None else None,
                "expires_in": round(expires - now) if expires is not None else None,
            }
            for name, (count, expires) in self._freshness(credentials, now).items()
        }
        return True, {"status": "ready", "providers": providers}

    async def metrics_text(self) -> bytes:
        credentials = await self.app.store.list()
        now = time.time()
        return self.metrics.render(self._freshness(credentials, now), now)

    def _freshness(
        self, credentials: Iterable[Credential], now: float
    ) -> dict[str, tuple[int, float | None]]:
        """Per served provider: how many usable credentials, and the earliest expiry
        among them (``None``: none expires)."""
        fresh: dict[str, tuple[int, float | None]] = dict.fromkeys(self.providers, (0, None))
        for credential in credentials:
            if credential.provider not in fresh or not credential.is_usable(now):
                continue
            count, earliest = fresh[credential.provider]
            expires = credential.expires_at
            if expires is not None and (earliest is None or expires < earliest):
                earliest = expires
            fresh[credential.provider] = (count + 1, earliest)
        return fresh

    # -- models --------------------------------------------------------------------

    async def models(self) -> list[dict[str, Any]]:
        """Every served provider's models and aliases, and its live list where a stored
        credential can read it."""
        listed: list[dict[str, Any]] = []
        for name in self.providers:
            adapter = self.adapter(name)
            ids = [*adapter.models, *adapter.aliases]
            profile = self._profile(name)
            if await self.app.store.get(name, profile) is not None:
                ids += await self.client.models(name, profile=profile)
            listed += [self._model(name, model) for model in dict.fromkeys(ids)]
        return listed

    async def model(self, ident: str) -> dict[str, Any]:
        provider, name = split_model(ident, self.providers)
        adapter = self.adapter(provider)
        if name not in adapter.models and name not in adapter.aliases:
            # Maybe only the site knows it (its live list); UnknownModel lists the valid.
            await self.client.resolve_model(provider, name, profile=self._profile(provider))
        return self._model(provider, name)

    def _model(self, provider: str, name: str) -> dict[str, Any]:
        return {
            "id": f"{provider}/{name}",
            "object": "model",
            "created": self.started,
            "owned_by": provider,
        }

    # -- answers -------------------------------------------------------------------

    async def chat(self, params: ChatParams) -> tuple[str, AsyncGenerator[Event, None]]:
        """The model's full id and the events of a chat (``UnknownProvider`` and
        ``UnknownModel`` at once, before anything is sent)."""
        provider, model, events = await self._events(params.model, params.messages, params.options)
        return f"{provider}/{model}", events

    async def completion(self, params: ChatParams) -> ChatCompletion:
        model, events = await self.chat(params)
        return await collect_completion(completion_chunks(events, model, reasoning=True))

    async def image(self, params: ImageParams) -> dict[str, Any]:
        _, _, events = await self._events(params.model, params.prompt, params.options)
        images: list[dict[str, Any]] = []
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, ImageResponse):
                    images += [{"url": url, "revised_prompt": event.alt} for url in event.urls]
        if not images:
            raise ApiError(
                502,
                f"{params.model} answered no image; is it an image model?",
                "upstream_error",
                "no_image",
                "model",
            )
        return {"created": int(time.time()), "data": images}

    async def _events(
        self, ident: str, messages: Any, options: dict[str, Any]
    ) -> tuple[str, str, AsyncGenerator[Event, None]]:
        provider, name = split_model(ident, self.providers)
        try:
            self.adapter(provider)
            profile = self._profile(provider)
            model = await self.client.resolve_model(provider, name, profile=profile)
        except (UnknownProvider, UnknownModel):
            label = self.metrics.provider_label(provider)
            self.metrics.chats.labels(label, "other", "model_not_found").inc()
            raise
        # No profile: the client picks among the configured ones (load, cool-downs).
        events = self.client.stream(provider, messages, model=model, **options)
        return provider, model, self._counted(provider, model, events)

    async def _counted(
        self, provider: str, model: str, events: AsyncGenerator[Event, None]
    ) -> AsyncGenerator[Event, None]:
        """``events`` with the request's outcome, time to first token and the streams in
        flight counted."""
        metrics = self.metrics
        started = anyio.current_time()
        outcome = "ok"
        first = True
        metrics.in_flight.inc()
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    if first and isinstance(event, str | ImageResponse):
                        first = False
                        metrics.first_token.labels(provider).observe(anyio.current_time() - started)
                    yield event
        except (anyio.get_cancelled_exc_class(), GeneratorExit):
            outcome = "cancelled"  # the caller went away (or the server is stopping)
            raise
        except Exception as exc:
            outcome = error_for(exc).code or "error"
            raise
        finally:
            metrics.in_flight.dec()
            metrics.chats.labels(provider, model, outcome).inc()
            took = anyio.current_time() - started
            logger.info("%s/%s: %s in %.2fs", provider, model, outcome, took)


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
