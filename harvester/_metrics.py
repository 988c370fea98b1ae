"""``harvest serve``'s Prometheus metrics (the one importer of ``prometheus_client``).

Labels are bounded: provider names come from the provider list, models from a
provider's own ids (anything else is ``other``), outcomes and results from fixed
sets. No URL, profile secret or prompt is ever a label.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from storage import Attempt

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# A harvest takes from half a second (a warm browser, no challenge) to its two-minute
# timeout; a first token from tens of milliseconds to a minute (a harvest first).
_HARVEST_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The server's metrics in a registry of its own (several servers in one process,
    as in tests, do not share counts)."""

    def __init__(self, providers: Iterable[str]) -> None:
        self.providers = tuple(providers)
        self.registry = CollectorRegistry()
        r = self.registry
        self.harvests = Counter(
            "harvest_harvests", "Harvests made by this process.", ["provider", "result"], registry=r
        )
        self.harvest_seconds = Histogram(
            "harvest_harvest_duration_seconds",
            "How long harvests took.",
            ["provider"],
            buckets=_HARVEST_BUCKETS,
            registry=r,
        )
        self.fresh = Gauge(
            "harvest_fresh_credentials",
            "Usable credentials in the store, per provider.",
            ["provider"],
            registry=r,
        )
        self.expiry = Gauge(
            "harvest_earliest_expiry_seconds",
            "Seconds until the earliest expiry among a provider's usable credentials.",
            ["provider"],
            registry=r,
        )
        self.chats = Counter(
            "harvest_chat_requests",
            "Chat and image requests, by provider, model and outcome.",
            ["provider", "model", "outcome"],
            registry=r,
        )
        self.first_token = Histogram(
            "harvest_time_to_first_token_seconds",
            "From the request to the first text or image of the answer.",
            ["provider"],
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "harvest_streams_in_flight", "Answers being streamed now.", registry=r
        )
        for provider in self.providers:
            self.fresh.labels(provider).set(0)
            for result in ("ok", "failed"):
                self.harvests.labels(provider, result)

    def provider_label(self, provider: str) -> str:
        return provider if provider in self.providers else "other"

    def heard(self, attempt: Attempt) -> None:
        """One harvest ended (the harvester's ``on_attempt``)."""
        provider = self.provider_label(attempt.provider)
        self.harvests.labels(provider, "ok" if attempt.ok else "failed").inc()
        self.harvest_seconds.labels(provider).observe(attempt.duration)

    def render(self, fresh: Mapping[str, tuple[int, float | None]], now: float) -> bytes:
        """The text exposition, the store's gauges set first from ``fresh``: per
        provider, its usable credentials and their earliest expiry."""
        for provider, (count, expires) in fresh.items():
            self.fresh.labels(provider).set(count)
            if expires is not None:
                self.expiry.labels(provider).set(expires - now)
            else:
                # No expiring credential: no number is better than a made-up one.
                with contextlib.suppress(KeyError):
                    self.expiry.remove(provider)
        return generate_latest(self.registry)
