"""The Cloudflare AI playground (PROVIDERS.md section 1), hostile like the real site.

- ``GET /`` without a valid ``cf_clearance`` answers 403 with the "Just a moment..."
  interstitial; its script solves the challenge after a delay (``POST
  /cdn-cgi/challenge-platform/solve`` sets an HttpOnly ``cf_clearance`` bound to the
  solver's user agent and to the JA4 of the connection that solved it, as the proxy
  in front saw its ClientHello) and reloads. ``HeadlessChrome`` never passes.
- Past it, the app page sets ``__cf_bm`` and loads ``/api/models``.
- ``/api/*`` without a clearance bound to the request's user agent and its
  connection's JA4 (a client that does not look like the solving browser): the
  interstitial again, 403. ``invalidate()`` revokes every clearance (the site changed its mind).
- ``POST /api/inference`` streams AI SDK data-stream records in small pieces with a
  delay, split at awkward places (inside records, inside UTF-8 characters), and
  rotates ``__cf_bm`` on every answer.
- ``faults``: the next inference requests' misbehaviour, one per request: a status
  (403/429/5xx), malformed records, a ``3:`` error, or a stream cut mid-way.
- ``state.interactive``: the interstitial is an interactive challenge instead (the
  Turnstile-like widget of ``_turnstile.py``, from ``challenges.cloudflare.com``): only
  the token a trusted click earned there buys the clearance.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from ._asgi import Request, Send, respond
from ._base import Emulator, EmulatorState, Fault, with_garbage
from ._turnstile import VERIFY_PATH, WIDGET_HOST, WIDGET_PATH, Turnstile

__all__ = ["HOST", "MODELS", "CloudflareEmulator", "Fault", "answer_text"]

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
class CloudflareState(EmulatorState):
    secret: str = field(default_factory=lambda: secrets.token_hex(8))
    solve_delay_ms: int = 300
    # value -> (user agent, JA4 of the solving connection)
    clearances: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    refused_ja4: list[str | None] = field(default_factory=list)  # JA4s a clearance refused
    bm_issued: list[str] = field(default_factory=list)
    interactive: bool = False  # the challenge wants a click on its widget
    turnstile: Turnstile = field(default_factory=lambda: Turnstile(f"https://{HOST}"))


class CloudflareEmulator(Emulator[CloudflareState]):
    """The ASGI app; ``state`` is shared with the tests."""

    provider = "cloudflare"
    hosts = (HOST, WIDGET_HOST)

    def __init__(self) -> None:
        super().__init__(CloudflareState())
        # The JA4 of a connection by its client port; the Rig wires in its proxy's.

    # -- controls for tests ------------------------------------------------------------

    def invalidate(self) -> None:
        """Revoke every clearance: the next API call gets the interstitial."""
        with self.state.lock:
            self.state.clearances.clear()

    def reset(self) -> None:
        super().reset()
        with self.state.lock:
            self.state.refused_ja4.clear()
            self.state.interactive = False
        self.state.turnstile.reset()

    def inference_requests(self) -> list[Request]:
        return self.requests_to("/api/inference")

    # -- the site ----------------------------------------------------------------------

    async def handle(self, request: Request, send: Send) -> None:
        path = request.path
        if request.host == WIDGET_HOST:
            await self._widget(request, send)
        elif path == "/cdn-cgi/challenge-platform/solve" and request.method == "POST":
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
        if bound is None or bound[0] != request.header("user-agent"):
            return False
        ja4 = self.ja4_of(request.client_port)
        if bound[1] != ja4:
            with self.state.lock:
                self.state.refused_ja4.append(ja4)
            return False
        return True

    async def _interstitial(self, send: Send, *, solvable: bool, request: Request) -> None:
        script = ""
        agent = request.header("user-agent") or ""
        if solvable and self.state.interactive:
            script = self.state.turnstile.page_script()
        elif solvable and "HeadlessChrome" not in agent:
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
        redeemed = not self.state.interactive or self.state.turnstile.redeem(
            request.body.decode("ascii", "replace")
        )
        if "HeadlessChrome" in agent or not request.body or not redeemed:
            await respond(send, 403, "challenge failed", content_type="text/plain")
            return
        digest = hashlib.sha256(f"{self.state.secret}|{agent}|{request.body!r}".encode())
        value = f"{digest.hexdigest()[:43]}-{secrets.randbelow(10**10)}-1.2.1.1"
        with self.state.lock:
            self.state.clearances[value] = (agent, self.ja4_of(request.client_port))
        cookie = (
            f"cf_clearance={value}; Path=/; Domain=.{HOST}; Max-Age={CLEARANCE_MAX_AGE}; "
            "HttpOnly; Secure; SameSite=None"
        )
        await respond(send, 200, "ok", content_type="text/plain", headers=[("set-cookie", cookie)])

    async def _widget(self, request: Request, send: Send) -> None:
        """The challenge widget's own host: its frame and the click verdict."""
        turnstile = self.state.turnstile
        if request.path == WIDGET_PATH and request.method == "GET":
            nonce = request.query.partition("nonce=")[2].partition("&")[0]
            await respond(send, 200, turnstile.widget(nonce))
        elif request.path == VERIFY_PATH and request.method == "POST":
            token = turnstile.verify(request.body)
            if token is None:
                await respond(send, 403, '{"success": false}', content_type="application/json")
            else:
                body = json.dumps({"success": True, "token": token})
                await respond(send, 200, body, content_type="application/json")
        else:
            await respond(send, 404, "not found", content_type="text/plain")

    def _new_bm(self) -> str:
        value = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.bm_issued.append(value)
        attributes = f"Path=/; Domain=.{HOST}; Max-Age=1800; HttpOnly; Secure; SameSite=None"
        return f"__cf_bm={value}; {attributes}"

    async def _inference(self, request: Request, send: Send) -> None:
        fault = self.next_fault()
        if fault.status == 403 or not self._cleared(request):
            await self._interstitial(send, solvable=False, request=request)
            return
        if await self.fail_with_status(send, fault):
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
            records = with_garbage(records, _GARBAGE)
        if fault.error is not None:
            records.insert(2, "3:" + json.dumps(fault.error))
        headers = [("x-vercel-ai-data-stream", "v1"), ("set-cookie", self._new_bm())]
        await self.stream(
            send, records, fault, content_type="text/plain; charset=utf-8", headers=headers
        )


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


_GARBAGE = ["this is not a record", '0:"unterminated', "x:{}", "", '9:{"toolCallId":"1"}']
