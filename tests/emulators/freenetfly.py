"""FreeNetfly (PROVIDERS.md section 3): an OpenAI-compatible chat behind a session cookie.

- ``GET /`` sets an HttpOnly ``nf_sid`` bound to the browser's user agent (a headless
  user agent is refused) and the page posts to ``/api/config``, as NextChat sites do.
- ``POST /api/openai/v1/chat/completions`` demands that session (403 with an
  ``invalid_session`` error otherwise) and the browser's headers, checks the body and
  streams Server-Sent Events split at awkward places: ``data: {chunk}`` records
  separated by blank lines, then ``data: [DONE]``.
- Faults: a status, a cut or a stall, malformed records mixed in (undecodable JSON,
  unexpected shapes, comments, other event types), an in-stream error object.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ._asgi import Request, Send, respond
from ._base import Emulator, EmulatorState, Fault, with_garbage

__all__ = ["HOST", "MODELS", "Fault", "FreeNetflyEmulator", "answer_text"]

HOST = "free.netfly.top"
MODELS = ("gpt-3.5-turbo", "gpt-4")
SESSION_MAX_AGE = 3600

_APP = """<!DOCTYPE html><html><head><title>NextChat</title></head>
<body><div id="app">Loading...</div>
<script>
(async function () {
  const response = await fetch("/api/config", {
    method: "POST", headers: {"content-type": "application/json"}, body: "{}"});
  const config = await response.json();
  document.getElementById("app").textContent = config.needCode ? "code" : "ready";
})();
</script></body></html>"""

_COUNT = re.compile(r"^count to (\d+)$", re.I)


@dataclass
class FreeNetflyState(EmulatorState):
    sessions: dict[str, str] = field(default_factory=dict)  # nf_sid -> user agent
    # Per session (an account's): a 429 with this Retry-After on every chat.
    limited: dict[str, int] = field(default_factory=dict)
    # Per session: chats answering now, and the most at once.
    active: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)


class FreeNetflyEmulator(Emulator[FreeNetflyState]):
    """The ASGI app; ``state`` is shared with the tests."""

    provider = "freenetfly"
    hosts = (HOST,)

    def __init__(self) -> None:
        super().__init__(FreeNetflyState())

    def invalidate(self) -> None:
        """End every session: the next chat gets ``invalid_session``."""
        with self.state.lock:
            self.state.sessions.clear()

    def end_session(self, value: str) -> None:
        """End one session (one account's): its next chat gets ``invalid_session``."""
        with self.state.lock:
            self.state.sessions.pop(value, None)

    def limit(self, value: str, retry_after: int | None) -> None:
        """Rate-limit one session (``None``: lift it)."""
        with self.state.lock:
            if retry_after is None:
                self.state.limited.pop(value, None)
            else:
                self.state.limited[value] = retry_after

    def chat_requests(self) -> list[Request]:
        return self.requests_to("/api/openai/v1/chat/completions")

    async def handle(self, request: Request, send: Send) -> None:
        path, method = request.path, request.method
        if path == "/" and method == "GET":
            await self._page(request, send)
        elif path == "/api/config" and method == "POST":
            if not self._session(request):
                await _invalid_session(send)
                return
            config = {"needCode": False, "hideUserApiKey": True, "disableGPT4": False}
            await respond(send, 200, json.dumps(config), content_type="application/json")
        elif path == "/api/openai/v1/chat/completions" and method == "POST":
            await self._chat(request, send)
        else:
            await respond(send, 404, "not found", content_type="text/plain")

    async def _page(self, request: Request, send: Send) -> None:
        agent = request.header("user-agent") or ""
        if "HeadlessChrome" in agent:
            await respond(send, 403, "<h1>Access denied</h1>")
            return
        value = secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.sessions[value] = agent
        cookie = (
            f"nf_sid={value}; Path=/; Max-Age={SESSION_MAX_AGE}; HttpOnly; Secure; SameSite=Lax"
        )
        await respond(send, 200, _APP, headers=[("set-cookie", cookie)])

    def _session(self, request: Request) -> bool:
        value = request.cookies.get("nf_sid", "")
        with self.state.lock:
            bound = self.state.sessions.get(value)
        return bound is not None and bound == request.header("user-agent")

    async def _chat(self, request: Request, send: Send) -> None:
        fault = self.next_fault()
        if fault.status == 403 or not self._session(request):
            await _invalid_session(send)
            return
        if await self.fail_with_status(send, fault):
            return
        value = request.cookies.get("nf_sid", "")
        with self.state.lock:
            limited = self.state.limited.get(value)
        if limited is not None:
            await self.fail_with_status(send, Fault(status=429, retry_after=limited))
            return
        problem = _check(request)
        if problem:
            error = {"error": {"message": problem, "type": "invalid_request_error"}}
            await respond(send, 400, json.dumps(error), content_type="application/json")
            return
        records = _answer(request.json())
        if fault.bare_end:
            # A server that closes after its last chunk: no [DONE], no blank line.
            records = records[:-1]
        if fault.malformed:
            records = with_garbage(records, _GARBAGE)
        if fault.error is not None:
            error = {"error": {"message": fault.error, "type": "server_error"}}
            records.insert(2, "data: " + json.dumps(error))
        with self.state.lock:
            now = self.state.active[value] = self.state.active.get(value, 0) + 1
            self.state.peak[value] = max(self.state.peak.get(value, 0), now)
        try:
            await self.stream(
                send,
                records,
                fault,
                content_type="text/event-stream; charset=utf-8",
                headers=[("cache-control", "no-cache")],
                separator="\n\n",
            )
        finally:
            with self.state.lock:
                self.state.active[value] -= 1


async def _invalid_session(send: Send) -> None:
    error = {
        "error": {
            "message": "Your session has expired: reload https://free.netfly.top",
            "type": "invalid_session",
        }
    }
    await respond(send, 403, json.dumps(error), content_type="application/json")


def _check(request: Request) -> str | None:
    accept = request.header("accept") or ""
    if "text/event-stream" not in accept:
        return f"accept must include text/event-stream, got {accept!r}"
    if request.header("origin") != f"https://{HOST}":
        return "origin must be the site"
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
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            return "each message needs exactly role and content"
    expected = {
        "stream": True,
        "temperature": 0.5,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_p": 1,
    }
    for key, value in expected.items():
        if data.get(key) != value:
            return f"{key} must be {value!r}"
    return None


def answer_text(data: dict[str, Any]) -> list[str]:
    """The text pieces the emulator answers ``data`` with (tests compare against it)."""
    prompt = data["messages"][-1]["content"]
    match = _COUNT.match(prompt.strip())
    if match:
        return [f" {n}" for n in range(1, int(match.group(1)) + 1)]
    system = " / ".join(m["content"] for m in data["messages"] if m["role"] == "system")
    text = (
        f"Netfly {data['model']} here. You said: «{prompt}». "
        f"System: {system or 'none'}. Turns: {len(data['messages'])}. Ünïcödé 日本語 ✓ 🚀"
    )
    return re.findall(r"\S+\s*", text)


def _answer(data: dict[str, Any]) -> list[str]:
    ident = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": data["model"],
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return "data: " + json.dumps(body, ensure_ascii=False)

    pieces = answer_text(data)
    prompt_tokens = sum(len(str(m["content"]).split()) for m in data["messages"])
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
    }
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": p}) for p in pieces),
        chunk({}, "stop", usage=usage),
        "data: [DONE]",
    ]


_GARBAGE = [
    "data: {not json",
    'data: {"object": "unexpected"}',
    ": keep-alive comment",
    'data: {"choices": "not a list"}',
    'event: ping\ndata: {"ping": 1}',
    'data: {"choices": [{"delta": {"content": 42}}]}',
]
