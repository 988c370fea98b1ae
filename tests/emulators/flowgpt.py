"""FlowGPT (PROVIDERS.md section 2): a chat page and a signed API on another origin.

- ``GET https://flowgpt.com/chat`` sets ``__cf_bm`` for ``.flowgpt.com`` (so the API
  host gets it too), bound to the browser's user agent; a headless user agent gets a
  challenge page. The page then fetches ``/api/auth/session``.
- ``POST https://prod-backend-k8s.flowgpt.com/v3/chat-anonymous`` checks, in order:
  the cookie (else 403 with the challenge page: a re-harvest), the signature (else
  401: a stale timestamp, a bad signature or a replayed nonce), the device id, origin
  and referer, the body. The answer is NDJSON in awkward pieces: ``event: text``
  objects among others the client must skip.
- Faults: a status, a cut or a stall, malformed lines, or ``skew`` (the site's clock
  runs ahead, so a correct signature looks stale).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ._asgi import Request, Send, respond
from ._base import Emulator, EmulatorState, Fault, with_garbage

__all__ = ["API_HOST", "HOST", "MODELS", "Fault", "FlowGPTEmulator", "answer_text"]

HOST = "flowgpt.com"
API_HOST = "prod-backend-k8s.flowgpt.com"
MODELS = (
    "gpt-3.5-turbo",
    "gpt-3.5-long",
    "gpt-4-turbo",
    "google-gemini",
    "claude-instant",
    "claude-v1",
    "claude-v2",
    "llama2-13b",
    "mythalion-13b",
    "pygmalion-13b",
    "chronos-hermes-13b",
    "Mixtral-8x7B",
    "Dolphin-2.6-8x7B",
)
GREETING = {"role": "assistant", "content": "Hello, how can I help you today?"}
MAX_SKEW = 300  # seconds a timestamp may be off

_CHALLENGE = """<!DOCTYPE html><html><head><title>Just a moment...</title></head>
<body><div id="cf-browser-verification">Checking your browser.</div></body></html>"""
_APP = """<!DOCTYPE html><html><head><title>FlowGPT</title></head>
<body><div id="__next">Loading chat...</div>
<script>
(async function () {
  const response = await fetch("/api/auth/session");
  await response.json();
  document.getElementById("__next").textContent = "Chat with FlowGPT";
})();
</script></body></html>"""
_DEVICE = re.compile(r"f-[a-z0-9]{19}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_COUNT = re.compile(r"^count to (\d+)$", re.I)


@dataclass
class FlowGPTState(EmulatorState):
    cookies: dict[str, str] = field(default_factory=dict)  # __cf_bm -> user agent
    nonces: set[str] = field(default_factory=set)


class FlowGPTEmulator(Emulator[FlowGPTState]):
    """The ASGI app for both hosts; ``state`` is shared with the tests."""

    provider = "flowgpt"
    hosts = (HOST, API_HOST)

    def __init__(self) -> None:
        super().__init__(FlowGPTState())

    def invalidate(self) -> None:
        """Revoke every cookie: the next chat gets the challenge page."""
        with self.state.lock:
            self.state.cookies.clear()

    def chat_requests(self) -> list[Request]:
        return self.requests_to("/v3/chat-anonymous")

    async def handle(self, request: Request, send: Send) -> None:
        path, method = request.path, request.method
        if request.host == HOST and path == "/chat" and method == "GET":
            await self._page(request, send)
        elif request.host == HOST and path == "/api/auth/session" and method == "GET":
            await respond(send, 200, "{}", content_type="application/json")
        elif request.host == API_HOST and path == "/v3/chat-anonymous" and method == "POST":
            await self._chat(request, send)
        else:
            await respond(send, 404, "not found", content_type="text/plain")

    async def _page(self, request: Request, send: Send) -> None:
        agent = request.header("user-agent") or ""
        if "HeadlessChrome" in agent:
            await respond(send, 403, _CHALLENGE)
            return
        value = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.cookies[value] = agent
        cookie = (
            f"__cf_bm={value}; Path=/; Domain=.{HOST}; Max-Age=1800; HttpOnly; Secure; "
            "SameSite=None"
        )
        await respond(send, 200, _APP, headers=[("set-cookie", cookie)])

    def _cleared(self, request: Request) -> bool:
        with self.state.lock:
            bound = self.state.cookies.get(request.cookies.get("__cf_bm", ""))
        return bound is not None and bound == request.header("user-agent")

    async def _chat(self, request: Request, send: Send) -> None:
        fault = self.next_fault()
        if fault.status == 403 or not self._cleared(request):
            await respond(send, 403, _CHALLENGE, headers=[("cf-mitigated", "challenge")])
            return
        if await self.fail_with_status(send, fault):
            return
        refused = self._check_signature(request, time.time() + fault.skew)
        if refused:
            body = json.dumps({"statusCode": 401, "message": refused})
            await respond(send, 401, body, content_type="application/json")
            return
        problem = _check(request)
        if problem:
            body = json.dumps({"statusCode": 400, "message": problem})
            await respond(send, 400, body, content_type="application/json")
            return
        records = _answer(request.json())
        if fault.malformed:
            records = with_garbage(records, _GARBAGE)
        await self.stream(send, records, fault, content_type="text/plain; charset=utf-8")

    def _check_signature(self, request: Request, now: float) -> str | None:
        stamp = request.header("x-timestamp") or ""
        nonce = request.header("x-nonce") or ""
        authorization = request.header("authorization") or ""
        if not stamp.isdigit() or abs(int(stamp) - now) > MAX_SKEW:
            return "Request expired: x-timestamp is missing or too far from now"
        if not _NONCE.fullmatch(nonce):
            return "x-nonce must be 32 hex characters"
        expected = hashlib.md5(f"{stamp}-{nonce}-{authorization}".encode()).hexdigest()
        if request.header("x-signature") != expected:
            return "Invalid signature"
        with self.state.lock:
            if nonce in self.state.nonces:
                return "Nonce already used"
            self.state.nonces.add(nonce)
        return None


def _check(request: Request) -> str | None:
    if request.header("authorization") != "Bearer null":
        return "anonymous requests carry Authorization: Bearer null"
    if not _DEVICE.fullmatch(request.header("x-flow-device-id") or ""):
        return "x-flow-device-id must be f- and 19 lower-case letters or digits"
    if request.header("origin") != f"https://{HOST}":
        return "origin must be the site"
    if request.header("referer") != f"https://{HOST}/":
        return "referer must be the site"
    try:
        data = request.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(data, dict) or data.get("model") not in MODELS:
        return "unknown model"
    fixed = {
        "nsfw": False,
        "temperature": 0.7,
        "promptId": f"model-{data['model']}",
        "documentIds": [],
        "chatFileDocumentIds": [],
        "generateImage": False,
        "generateAudio": False,
    }
    for key, value in fixed.items():
        if data.get(key) != value:
            return f"{key} must be {value!r}"
    history = data.get("history")
    if not isinstance(history, list) or not history or history[0] != GREETING:
        return "history must start with the greeting"
    if any(not isinstance(m, dict) or m.get("role") == "system" for m in history):
        return "history carries no system messages"
    if not isinstance(data.get("question"), str) or not isinstance(data.get("system"), str):
        return "question and system are strings"
    return None


def answer_text(data: dict[str, Any]) -> list[str]:
    """The text pieces the emulator answers ``data`` with (tests compare against it)."""
    question = data["question"]
    match = _COUNT.match(question.strip())
    if match:
        return [f" {n}" for n in range(1, int(match.group(1)) + 1)]
    text = (
        f"FlowGPT {data['model']} answers «{question}». System: {data['system']}. "
        f"History: {len(data['history'])}. Ünïcödé 日本語 ✓ 🚀"
    )
    return re.findall(r"\S+\s*", text)


def _answer(data: dict[str, Any]) -> list[str]:
    return [
        json.dumps({"event": "status", "data": "thinking"}),
        *(json.dumps({"event": "text", "data": p}, ensure_ascii=False) for p in answer_text(data)),
        json.dumps({"type": "usage", "tokens": 12}),  # no event: skipped
        json.dumps({"event": "done", "data": ""}),
    ]


_GARBAGE = ['{"event": "text", "data": ', "not json at all", "[1, 2]", "", '{"event": "text"}']
