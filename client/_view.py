"""``CredentialView``: the credentials a client's streams use, kept in memory.

Each stream needs its credential at once, and the cookies a site rotates (Cloudflare's
``__cf_bm`` on every answer) must be kept. Reading and writing the store for every
stream puts them all through the store's one database thread, and concurrent
compare-and-set write-backs mostly refuse each other. So the view holds each (provider,
profile) this process uses:

- Reads come from memory. Another process's write (a new harvest, a ``mark``, its
  write-back) changes the stored generation; the view compares generations (and reads
  the cool-downs) at most once per ``check_every`` however many streams start, beside
  the streams while its last look is recent, so it sees such a write at most
  ``FRESH_FOR`` late. ``fresh`` reads the store now (a refused credential is never
  trusted from memory); ``forget`` drops an entry after this process changed it.
- A rotation is merged in memory at once (this process's next request uses it) and
  written to the store at most once per ``flush_every`` per (provider, profile), and on
  close, merged into the same harvest: a newer harvest wins, and concurrent writers
  never refuse each other. A crash loses at most ``flush_every`` of rotations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import anyio

from storage import Cookie, Cooldown, Credential, CredentialStore, StorageError, merged_cookies

__all__ = ["CredentialView"]

logger = logging.getLogger("client")

Key = tuple[str, str]

# The store is looked at (generations and cool-downs, one trip) at most once per
# CHECK_EVERY, shared by every stream starting meanwhile. A stream waits for that look
# only when the last one is older than FRESH_FOR; within it the stream goes on with
# memory and the look runs beside it (a trip to the database thread would otherwise be
# on every call's path). So another process's write is seen within FRESH_FOR.
CHECK_EVERY = 0.01
FRESH_FOR = 0.05


@dataclass
class _Rotation:
    """Cookies set on one harvest's requests and not yet in the store."""

    harvested_at: float
    cookies: dict[tuple[str, str, bool, str], Cookie] = field(default_factory=dict)


class CredentialView:
    """The stored credentials as this process uses them (see the module's docstring)."""

    def __init__(
        self,
        store: CredentialStore,
        *,
        check_every: float = CHECK_EVERY,
        flush_every: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._check_every = check_every
        self._flush_every = flush_every
        self._clock = clock
        self._entries: dict[Key, Credential] = {}  # what streams get: stored + rotations
        self._generations: dict[Key, int] = {}  # of what was read from the store
        self._rotations: dict[Key, _Rotation] = {}
        self._checked = -math.inf
        self._checking: anyio.Event | None = None
        self._reading: dict[Key, anyio.Event] = {}
        self._flushing = anyio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._closed = False
        self._cooling: list[Cooldown] = []  # every running cool-down, as last read
        self._beside: asyncio.Task[None] | None = None  # a look running beside the streams
        # Counted for benchmarks and tests: store operations this view made.
        self.reads = 0
        self.checks = 0
        self.writes = 0
        self.heard = 0  # changes the store announced

    async def get(self, provider: str, profile: str) -> Credential | None:
        """The credential from memory (read once, and again after another process's
        write); ``None`` when the store has none."""
        await self._check()
        key = (provider, profile)
        while True:
            credential = self._entries.get(key)
            if credential is not None:
                return credential
            reading = self._reading.get(key)
            if reading is None:
                return await self.fresh(provider, profile)
            await reading.wait()  # one read for every stream that starts meanwhile
            if key not in self._entries:
                return None

    async def fresh(self, provider: str, profile: str) -> Credential | None:
        """The stored credential, read now (with this process's unwritten rotations)."""
        key = (provider, profile)
        reading = self._reading[key] = anyio.Event()
        try:
            stored = await self._store.get(provider, profile)
            self.reads += 1
            return self._remember(key, stored)
        finally:
            if self._reading.get(key) is reading:
                del self._reading[key]
            reading.set()

    async def cooldowns(self, provider: str) -> list[Cooldown]:
        """``provider``'s running cool-downs (another process's seen within
        ``check_every``, this process's at once)."""
        await self._check(always=True)
        now = self._clock()
        return [c for c in self._cooling if c.provider == provider and c.until > now]

    def cooled(self, cooldown: Cooldown) -> None:
        """This process cooled a profile (and wrote it to the store)."""
        key = (cooldown.provider, cooldown.profile)
        kept = [c for c in self._cooling if (c.provider, c.profile) != key]
        self._cooling = [*kept, cooldown]

    async def listen(self) -> bool:
        """Drop what another process changes as soon as the store announces it
        (PostgreSQL); the looks every ``check_every`` stay, as the fallback. Whether the
        store announces changes."""
        try:
            return await self._store.listen(self._heard)
        except StorageError as exc:  # polling still sees every change
            logger.warning("not listening for the store's changes: %s", exc)
            return False

    def _heard(self, provider: str, profile: str) -> None:
        self.heard += 1
        self._entries.pop((provider, profile), None)
        self._checked = -math.inf  # and the next stream looks at the cool-downs too

    def forget(self, provider: str, profile: str) -> None:
        """Read it from the store next time (this process changed it: a mark, a harvest)."""
        self._entries.pop((provider, profile), None)

    def rotate(self, credential: Credential, cookies: Iterable[Cookie]) -> Credential:
        """Keep the cookies a response to ``credential`` set; returns it with them.

        Merged in memory now, written to the store within ``flush_every``. A rotation of
        an older harvest than one already seen is dropped: the newer harvest wins.
        """
        key = (credential.provider, credential.profile)
        cookies = list(cookies)
        now = self._clock()
        current = self._entries.get(key)
        rotation = self._rotations.get(key)
        seen = max(
            current.harvested_at if current is not None else -math.inf,
            rotation.harvested_at if rotation is not None else -math.inf,
        )
        if credential.harvested_at < seen:
            return current if current is not None else credential  # a newer harvest won
        if rotation is None or rotation.harvested_at != credential.harvested_at:
            rotation = self._rotations[key] = _Rotation(credential.harvested_at)
        for cookie in cookies:
            rotation.cookies.pop(cookie.key, None)  # a changed value goes last, as stored
            rotation.cookies[cookie.key] = cookie
        same = current is not None and current.harvested_at == credential.harvested_at
        base = current if current is not None and same else credential
        merged = replace(base, cookies=merged_cookies(base.cookies, cookies, now))
        if same:
            self._entries[key] = merged
        # (Not in memory, or another harvest there: the next read applies the rotation.)
        self._schedule_flush()
        return merged

    async def flush(self) -> None:
        """Write every unwritten rotation to the store now."""
        async with self._flushing:
            rotations, self._rotations = self._rotations, {}
            for key, rotation in rotations.items():
                try:
                    await self._store.merge_cookies(
                        *key, rotation.cookies.values(), harvested_at=rotation.harvested_at
                    )
                except StorageError as exc:
                    # Kept for the next flush (newer rotations of it win): nothing lost.
                    logger.warning("%s/%s: could not write cookies back yet: %s", *key, exc)
                    later = self._rotations.setdefault(key, rotation)
                    if later is not rotation and later.harvested_at == rotation.harvested_at:
                        later.cookies = {**rotation.cookies, **later.cookies}
                    continue
                self.writes += 1

    async def aclose(self) -> None:
        """Write what is left; the view is not used after."""
        self._closed = True
        self._store.unlisten(self._heard)
        if self._beside is not None:
            with contextlib.suppress(Exception):
                await self._beside
            self._beside = None
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await self.flush()

    # -- internals -----------------------------------------------------------------

    def _remember(self, key: Key, stored: Credential | None) -> Credential | None:
        if stored is None:
            self._entries.pop(key, None)
            self._generations.pop(key, None)
            return None
        self._generations[key] = stored.generation
        rotation = self._rotations.get(key)
        if rotation is not None and rotation.harvested_at == stored.harvested_at:
            cookies = merged_cookies(stored.cookies, rotation.cookies.values(), self._clock())
            stored = replace(stored, cookies=cookies)
        self._entries[key] = stored
        return stored

    async def _check(self, *, always: bool = False) -> None:
        """Drop the entries another process changed and read the cool-downs, looking at
        most every ``check_every``; waited for only when the last look is older than
        ``FRESH_FOR`` (see the module's constants). Without ``always``, not while
        nothing is in memory."""
        age = time.monotonic() - self._checked
        if not (self._entries or always) or age < self._check_every:
            return
        if self._checking is not None:
            if age >= FRESH_FOR:
                await self._checking.wait()
            return
        if age < FRESH_FOR and not self._closed:
            self._checking = anyio.Event()
            self._beside = asyncio.get_running_loop().create_task(self._look_beside())
            return
        self._checking = anyio.Event()
        await self._look()

    async def _look_beside(self) -> None:
        try:
            await self._look()
        except Exception as exc:  # the next stream looks again, and waits if it must
            logger.debug("the view's look at the store failed: %s", exc)

    async def _look(self) -> None:
        checking = self._checking
        assert checking is not None
        try:
            started = time.monotonic()
            generations, self._cooling = await self._store.changes()
            self.checks += 1
            for key in list(self._entries):
                if generations.get(key) != self._generations.get(key):
                    del self._entries[key]
            self._checked = started
        finally:
            self._checking = None
            checking.set()

    def _schedule_flush(self) -> None:
        if self._closed or (self._timer is not None and not self._timer.done()):
            return
        # A plain asyncio task, not a task group: the blocking facade enters and leaves
        # the client in different tasks, which a task group cannot span.
        self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush()
            except Exception:  # a bug here must not go unseen, nor kill the loop
                logger.exception("writing rotated cookies back failed")
            # Rotations that came during the write, or one that failed: the next round.
            if self._closed or not self._rotations:
                return
