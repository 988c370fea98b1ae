"""What every provider emulator shares: request records, faults on demand, and a
streamed answer split at awkward places with the misbehaviour a fault asks for."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ._asgi import Message, Receive, Request, Scope, Send, read_request, respond, start


@dataclass
class Fault:
    """What one request gets instead of a normal answer.

    ``status``: answer with this status (``retry_after`` for 429; each emulator
    answers its rejection statuses as its site does). ``malformed``: mix garbage
    records into a normal answer. ``error``: an in-stream error record after the first
    text. ``cut_after``: stop the stream abruptly after this many records (0: before
    any). ``stall_after``: go silent for ``stall`` seconds after this many records.
    ``skew``: the site's clock runs this many seconds ahead for this request.
    ``set_cookie``: extra ``Set-Cookie`` headers on a streamed answer (hostile ones).
    ``newline``: the line ending a stream's records use instead of LF (``"\r"``,
    ``"\r\n"``). ``bare_end``: the last record ends the stream without its separator.
    """

    status: int | None = None
    retry_after: int | None = None
    malformed: bool = False
    error: str | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0
    skew: float = 0.0
    set_cookie: tuple[str, ...] = ()
    newline: str = "\n"
    bare_end: bool = False


@dataclass
class EmulatorState:
    """Shared with the tests: what came in, what goes wrong next, how answers stream."""

    chunk_delay: float = 0.01  # between pieces of a stream
    split: bool = True  # split pieces at awkward places (else one piece per record)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    keep_requests: bool = True
    streams_started: int = 0
    streams_finished: int = 0  # the last byte of an answer was handed to the server
    rotate_cookie: bool = False  # every streamed answer sets a new ``rot`` cookie
    abandoned: int = 0  # answers whose client went away before their end


S = TypeVar("S", bound=EmulatorState)


class Emulator(Generic[S]):
    """An ASGI app for one provider's hosts; subclasses implement ``handle``.

    Each lives in ``tests/emulators/NAME.py`` with ``provider = "NAME"``: the rig finds
    one per built-in provider by that name.
    """

    provider: str = ""
    hosts: tuple[str, ...] = ()

    def __init__(self, state: S) -> None:
        self.state = state
        # The JA4 the edge (the rig's proxy) saw on the connection from a client port.
        self.ja4_of: Callable[[int], str | None] = lambda _port: None

    # -- controls for tests ------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.state.lock:
            self.state.faults.append(fault)

    def requests_to(self, path: str) -> list[Request]:
        with self.state.lock:
            return [r for r in self.state.requests if r.path == path]

    def reset(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.requests.clear()
            self.state.chunk_delay = 0.01
            self.state.streams_started = self.state.streams_finished = 0
            self.state.abandoned = 0

    # -- serving -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = await read_request(scope, receive)
        if self.state.keep_requests:
            with self.state.lock:
                self.state.requests.append(request)
        ended = asyncio.Event()
        gone = asyncio.Event()

        async def watched(message: Message) -> None:
            if gone.is_set():
                raise _ClientGone  # a real server stops sending to a reset stream
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended.set()

        watcher = asyncio.ensure_future(self._watch(receive, ended, gone))
        try:
            await self.handle(request, watched)
        except _ClientGone:
            pass
        finally:
            watcher.cancel()

    async def _watch(self, receive: Receive, ended: asyncio.Event, gone: asyncio.Event) -> None:
        """Notice a client that goes away mid-answer (an HTTP/2 reset, a closed socket)."""
        while (await receive())["type"] != "http.disconnect":
            pass
        if not ended.is_set():
            gone.set()
            with self.state.lock:
                self.state.abandoned += 1

    async def handle(self, request: Request, send: Send) -> None:
        raise NotImplementedError

    def next_fault(self) -> Fault:
        with self.state.lock:
            return self.state.faults.popleft() if self.state.faults else Fault()

    async def fail_with_status(self, send: Send, fault: Fault) -> bool:
        """Answer ``fault``'s status as a JSON error, if it has one."""
        if fault.status is None:
            return False
        headers = [("retry-after", str(fault.retry_after))] if fault.retry_after else []
        body = json.dumps({"error": f"emulated {fault.status}"})
        await respond(send, fault.status, body, content_type="application/json", headers=headers)
        return True

    async def stream(
        self,
        send: Send,
        records: list[str],
        fault: Fault,
        *,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
        separator: str = "\n",
    ) -> None:
        """Send ``records`` (each followed by ``separator``) as a streamed answer, with
        ``fault``'s cut or stall."""
        headers = [*(headers or []), *(("set-cookie", value) for value in fault.set_cookie)]
        if self.state.rotate_cookie:
            # Like __cf_bm: each answer rotates a cookie, so every stream writes back.
            headers.append(("set-cookie", f"rot={self.state.streams_started}; Path=/; Secure"))
        if fault.newline != "\n":
            records = [r.replace("\n", fault.newline) for r in records]
            separator = separator.replace("\n", fault.newline)
        if fault.cut_after is not None:
            # Promise the whole answer, then end early: the client sees the body cut
            # short at once (an ASGI app cannot reset the connection itself).
            size = sum(len((r + separator).encode()) for r in records)
            headers.append(("content-length", str(size)))
            records = records[: fault.cut_after]
        await start(send, 200, content_type=content_type, headers=headers)
        with self.state.lock:
            self.state.streams_started += 1
        if fault.stall_after is not None:
            await self._send_pieces(send, records[: fault.stall_after], separator)
            await asyncio.sleep(fault.stall)
            records = records[fault.stall_after :]
        await self._send_pieces(send, records, separator, bare_end=fault.bare_end)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if fault.cut_after is None:
            with self.state.lock:
                self.state.streams_finished += 1

    async def _send_pieces(
        self, send: Send, records: list[str], separator: str, *, bare_end: bool = False
    ) -> None:
        state = self.state
        ends = [separator] * len(records)
        if bare_end and ends:
            ends[-1] = ""
        if not state.split:
            pieces = [(r + end).encode() for r, end in zip(records, ends, strict=True)]
        else:
            payload = "".join(r + end for r, end in zip(records, ends, strict=True)).encode()
            pieces = []
            at = 0
            while at < len(payload):
                # Mostly small pieces (records split anywhere), now and then a big one
                # (several records in one read).
                size = (
                    state.rng.randint(1, 24)
                    if state.rng.random() < 0.8
                    else state.rng.randint(100, 400)
                )
                pieces.append(payload[at : at + size])
                at += size
        delay = state.chunk_delay
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if delay:
                await asyncio.sleep(delay)


class _ClientGone(Exception):
    """The client of this answer has gone away."""


def with_garbage(records: list[str], garbage: list[str]) -> list[str]:
    """``records`` with one piece of ``garbage`` after each of the first ones."""
    mixed = []
    for index, record in enumerate(records):
        mixed.append(record)
        if index < len(garbage):
            mixed.append(garbage[index])
    return mixed


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
