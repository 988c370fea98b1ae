"""Copying a store into another (SQLite to PostgreSQL and back): every credential and
its harvest history, idempotently, through the stores' own interface (so each side's
engine and key apply: a sealed source is opened with its key and the copy is sealed
with the destination's).

A credential is copied unless the destination has the same or a newer harvest of it;
an attempt unless the destination has the very same one. Running it twice copies
nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._store import _HISTORY_KEPT, CredentialStore

__all__ = ["Copied", "copy_store"]


@dataclass(frozen=True)
class Copied:
    """What one copy did."""

    credentials: int = 0
    kept: int = 0  # the destination's own was as new or newer
    attempts: int = 0


async def copy_store(
    source: CredentialStore,
    destination: CredentialStore,
    progress: Callable[[str], None] = lambda _line: None,
) -> Copied:
    """Copy ``source`` into ``destination``; ``progress`` hears one line per credential."""
    credentials = kept = attempts = 0
    for credential in await source.list():
        key = f"{credential.provider}/{credential.profile}"
        there = await destination.get(credential.provider, credential.profile)
        if there is not None and there.harvested_at >= credential.harvested_at:
            kept += 1
            progress(f"kept     {key} (the destination's is as new)")
        else:
            await destination.put(credential)
            credentials += 1
            progress(f"copied   {key}")
    for provider, profile in {
        (a.provider, a.profile) for a in await source.recent_attempts(limit=10**9)
    }:
        theirs = await source.recent_attempts(provider, profile, limit=_HISTORY_KEPT)
        ours = set(await destination.recent_attempts(provider, profile, limit=_HISTORY_KEPT))
        for attempt in reversed(theirs):  # oldest first: the history keeps its order
            if attempt not in ours:
                await destination.record_attempt(attempt)
                attempts += 1
    return Copied(credentials, kept, attempts)
