"""The Cloudflare AI playground (PROVIDERS.md section 1), hostile like the real site.

- ``GET /`` without a valid ``cf_clearance`` answers 403 with the "Just a moment..."
  interstitial; its script solves the challenge after a delay (``POST
  /cdn-cgi/challenge-platform/solve`` sets an HttpOnly ``cf_clearance`` bound to the
  solver's user agent) and reloads. ``HeadlessChrome`` never passes.
- Past it, the app page sets ``__cf_bm`` and loads ``/api/models``.
- ``/api/*`` without a clearance bound to the request's user agent: the interstitial
  again, 403. ``invalidate()`` revokes every clearance (the site changed its mind).
- ``POST /api/inference`` streams AI SDK data-stream records in small pieces with a
  delay, split at awkward places (inside records, inside UTF-8 characters), and
  rotates ``__cf_bm`` on every answer.
- ``faults``: the next inference requests' misbehaviour, one per request: a status
  (403/429/5xx), malformed records, a ``3:`` error, or a stream cut mid-way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._asgi import Receive, Request, Scope, Send, read_request, respond, start

HOST = "playground.ai.cloudflare.com"
INTERSTITIAL_TITLE = "Just a moment..."
CLEARANCE_MAX_AGE = 1800
MODELS = (
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    "@cf/meta/llama-3.1-8b-instruct-fp8",
    "@cf/meta/llama-2-7b-chat-int8",
    "@cf/qwen/qwen2.5-coder-32b-instruct",
    "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    # Only in the live list: the client must learn it from /api/models.
    "@cf/mistral/mistral-7b-instruct-v0.2-lora",
)

_INTERSTITIAL = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta name="robots" content="noindex,nofollow"></head><body>
<div id="cf-browser-verification" class="cf-browser-verification">
<h1>playground.ai.cloudflare.com</h1><p>Verifying you are human. This may take a few seconds.</p>
</div>{script}</body></html>"""
_SOLVER = """<script>
setTimeout(async function () {{
  await fetch("/cdn-cgi/challenge-platform/solve", {{method: "POST", body: "{nonce}"}});
  location.reload();
}}, {delay});
</script>"""
_APP = """<!DOCTYPE html><html><head><title>Workers AI LLM Playground</title></head>
<body><main id="app">Loading models...</main>
<script>
(async function () {
  const response = await fetch("/api/models");
  const data = await response.json();
  document.getElementById("app").textContent = data.models.length + " models";
  document.body.insertAdjacentHTML("beforeend", '<div id="app-ready"></div>');
})();
</script></body></html>"""

_COUNT = re.compile(r"^count to (\d+)$", re.I)


@dataclass
class Fault:
    """What one inference request gets instead of a normal answer.

    ``status``: answer with this status (``retry_after`` for 429; 403 is the
    interstitial). ``malformed``: mix garbage lines into a normal answer. ``error``: a
    ``3:`` record after the first text. ``cut_after``: stop the stream abruptly after
    this many records (0: before any). ``stall_after``: go silent for ``stall``
    seconds after this many records.
    """

    status: int | None = None
    retry_after: int | None = None
    malformed: bool = False
    error: str | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0


@dataclass
class CloudflareState:
    secret: str = field(default_factory=lambda: secrets.token_hex(8))
    solve_delay_ms: int = 300
    chunk_delay: float = 0.01  # between pieces of a stream
    split: bool = True  # split pieces at awkward places
    clearances: dict[str, str] = field(default_factory=dict)  # value -> user agent
    bm_issued: list[str] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    keep_requests: bool = True
    streams_started: int = 0
    streams_finished: int = 0  # the last byte of the answer was handed to the server


class CloudflareEmulator:
    """The ASGI app; ``state`` is shared with the tests."""

    host = HOST

    def __init__(self) -> None:
        self.state = CloudflareState()

    # -- controls for tests ------------------------------------------------------------

    def invalidate(self) -> None:
        """Revoke every clearance: the next API call gets the interstitial."""
        with self.state.lock:
            self.state.clearances.clear()

    def add_fault(self, fault: Fault) -> None:
        with self.state.lock:
            self.state.faults.append(fault)

    def inference_requests(self) -> list[Request]:
        with self.state.lock:
            return [r for r in self.state.requests if r.path == "/api/inference"]

    def reset(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.requests.clear()
            self.state.chunk_delay = 0.01
            self.state.streams_started = self.state.streams_finished = 0

    # -- the site ----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = await read_request(scope, receive)
        if self.state.keep_requests:
            with self.state.lock:
                self.state.requests.append(request)
        path = request.path
        if path == "/cdn-cgi/challenge-platform/solve" and request.method == "POST":
            await self._solve(request, send)
        elif path == "/" and request.method == "GET":
            if self._cleared(request):
                await respond(send, 200, _APP, headers=[("set-cookie", self._new_bm())])
            else:
                await self._interstitial(send, solvable=True, request=request)
        elif path == "/api/models" and request.method == "GET":
            if not self._cleared(request):
                await self._interstitial(send, solvable=False, request=request)
                return
            body = json.dumps({"models": [{"name": m, "description": ""} for m in MODELS]})
            await respond(send, 200, body, content_type="application/json")
        elif path == "/api/inference" and request.method == "POST":
            await self._inference(request, send)
        else:
            await respond(send, 404, "not found", content_type="text/plain")

    def _cleared(self, request: Request) -> bool:
        value = request.cookies.get("cf_clearance")
        with self.state.lock:
            bound = self.state.clearances.get(value or "")
        return bound is not None and bound == request.header("user-agent")

    async def _interstitial(self, send: Send, *, solvable: bool, request: Request) -> None:
        script = ""
        agent = request.header("user-agent") or ""
        if solvable and "HeadlessChrome" not in agent:
            nonce = secrets.token_hex(8)
            script = _SOLVER.format(nonce=nonce, delay=self.state.solve_delay_ms)
        await respond(
            send,
            403,
            _INTERSTITIAL.format(script=script),
            headers=[("cf-mitigated", "challenge"), ("cache-control", "no-store")],
        )

    async def _solve(self, request: Request, send: Send) -> None:
        agent = request.header("user-agent") or ""
        if "HeadlessChrome" in agent or not request.body:
            await respond(send, 403, "challenge failed", content_type="text/plain")
            return
        digest = hashlib.sha256(f"{self.state.secret}|{agent}|{request.body!r}".encode())
        value = f"{digest.hexdigest()[:43]}-{secrets.randbelow(10**10)}-1.2.1.1"
        with self.state.lock:
            self.state.clearances[value] = agent
        cookie = (
            f"cf_clearance={value}; Path=/; Domain=.{HOST}; Max-Age={CLEARANCE_MAX_AGE}; "
            "HttpOnly; Secure; SameSite=None"
        )
        await respond(send, 200, "ok", content_type="text/plain", headers=[("set-cookie", cookie)])

    def _new_bm(self) -> str:
        value = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.bm_issued.append(value)
        attributes = f"Path=/; Domain=.{HOST}; Max-Age=1800; HttpOnly; Secure; SameSite=None"
        return f"__cf_bm={value}; {attributes}"

    async def _inference(self, request: Request, send: Send) -> None:
        with self.state.lock:
            fault = self.state.faults.popleft() if self.state.faults else Fault()
        if fault.status == 403 or not self._cleared(request):
            await self._interstitial(send, solvable=False, request=request)
            return
        if fault.status is not None:
            headers = [("retry-after", str(fault.retry_after))] if fault.retry_after else []
            body = json.dumps({"error": f"emulated {fault.status}"})
            await respond(
                send, fault.status, body, content_type="application/json", headers=headers
            )
            return
        problem = _check_body(request)
        if problem:
            await respond(
                send, 400, json.dumps({"error": problem}), content_type="application/json"
            )
            return
        data = request.json()
        records = _answer(data)
        if fault.malformed:
            records = _with_garbage(records)
        if fault.error is not None:
            records.insert(2, "3:" + json.dumps(fault.error))
        headers = [("x-vercel-ai-data-stream", "v1"), ("set-cookie", self._new_bm())]
        if fault.cut_after is not None:
            # Promise the whole answer, then end early: the client sees the body cut
            # short at once (an ASGI app cannot reset the connection itself).
            size = sum(len((r + "\n").encode()) for r in records)
            headers.append(("content-length", str(size)))
            records = records[: fault.cut_after]
        await start(send, 200, content_type="text/plain; charset=utf-8", headers=headers)
        with self.state.lock:
            self.state.streams_started += 1
        if fault.stall_after is not None:
            await self._send_records(send, records[: fault.stall_after])
            await asyncio.sleep(fault.stall)
            records = records[fault.stall_after :]
        await self._send_records(send, records)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if fault.cut_after is None:
            with self.state.lock:
                self.state.streams_finished += 1

    async def _send_records(self, send: Send, records: list[str]) -> None:
        state = self.state
        payload = "".join(r + "\n" for r in records).encode()
        if not state.split:
            pieces = [(r + "\n").encode() for r in records]
        else:
            pieces = []
            at = 0
            while at < len(payload):
                size = state.rng.randint(1, 24)
                pieces.append(payload[at : at + size])
                at += size
        delay = state.chunk_delay
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            if delay:
                await asyncio.sleep(delay)


def _check_body(request: Request) -> str | None:
    try:
        data = request.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(data, dict):
        return "body is not an object"
    if data.get("model") not in MODELS:
        return f"unknown model {data.get('model')!r}"
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return "each message needs a role of user or assistant"
        parts = message.get("parts")
        if parts != [{"type": "text", "text": message.get("content")}]:
            return "each message needs parts: [{type: text, text: content}]"
    for key, kind in (("system_message", str), ("max_tokens", int), ("stream", bool)):
        if not isinstance(data.get(key), kind):
            return f"{key} is missing or of the wrong type"
    if data.get("tools") != [] or "lora" not in data:
        return "tools must be [] and lora present"
    return None


def answer_text(data: dict[str, Any]) -> list[str]:
    """The text pieces the emulator answers ``data`` with (tests compare against it)."""
    prompt = data["messages"][-1]["content"]
    match = _COUNT.match(prompt.strip())
    if match:
        return [f" {n}" for n in range(1, int(match.group(1)) + 1)]
    text = (
        f"Hello from the emulated playground ({data['model']}). "
        f"You said: «{prompt}». System: {data['system_message']}. "
        "Ünïcödé survives splitting: 日本語 ✓ 🚀"
    )
    return re.findall(r"\S+\s*", text)


def _answer(data: dict[str, Any]) -> list[str]:
    pieces = answer_text(data)
    prompt_tokens = sum(len(str(m["content"]).split()) for m in data["messages"])
    usage = {"promptTokens": prompt_tokens, "completionTokens": len(pieces)}
    end = {"finishReason": "stop", "usage": usage}
    return [
        "f:" + json.dumps({"messageId": "msg-" + secrets.token_hex(6)}),
        *("0:" + json.dumps(p, ensure_ascii=False) for p in pieces),
        "e:" + json.dumps({**end, "isContinued": False}),
        "d:" + json.dumps(end),
    ]


def _with_garbage(records: list[str]) -> list[str]:
    garbage = ["this is not a record", '0:"unterminated', "x:{}", "", '9:{"toolCallId":"1"}']
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
