"""FlowGPT (PROVIDERS.md section 2): signed anonymous chat, answered as NDJSON.

The page is ``https://flowgpt.com/chat``; the API is another origin. Every request is
signed afresh (``x-timestamp``, ``x-nonce``, ``x-signature`` = md5 of
``timestamp-nonce-authorization``). A refused signature (401, or a 403 without the
challenge page) is signed again and retried once, with no browser involved; a
challenge page means the cookie is refused, which the client answers with a harvest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from fingerprint import Call

from .._errors import CredentialRejected, ProviderError, shorten
from .._events import Event, TextDelta
from .._provider import ChatRequest, Provider
from .._recipe import HarvestRecipe, Ready, Token
from .._session import ProviderSession

__all__ = ["FlowGPTProvider", "NDJSONParser", "chat_body", "signature_headers"]

logger = logging.getLogger("client.flowgpt")

_SITE = "https://flowgpt.com"
_API = "https://prod-backend-k8s.flowgpt.com"
_AUTHORIZATION = "Bearer null"  # anonymous
# The app's chat call: a JSON POST with its signing headers.
_CHAT = Call(
    "POST",
    "application/json",
    ("authorization", "x-nonce", "x-signature", "x-timestamp", "x-flow-device-id"),
)
_GREETING = {"role": "assistant", "content": "Hello, how can I help you today?"}
_DEFAULT_SYSTEM = "You are helpful assistant. Follow the user's instructions carefully."
# The app makes its device id once and keeps it: so does a harvest, in its tokens.
_DEVICE_ID_JS = (
    '"f-" + Array.from(crypto.getRandomValues(new Uint8Array(19)),'
    ' b => "abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]).join("")'
)


class FlowGPTProvider(Provider):
    name = "flowgpt"
    label = "FlowGPT"
    url = _SITE
    recipe = HarvestRecipe(
        start_url=f"{_SITE}/chat",
        ready=Ready(cookie="__cf_bm", request=r"/api/auth/session"),
        capture=r"/api/auth/session",
        tokens=(Token("device_id", js=_DEVICE_ID_JS),),
        lifetime=1800.0,
        expiry_cookie="__cf_bm",
    )
    default_model = "gpt-3.5-turbo"
    models = (
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
    aliases: ClassVar[dict[str, str]] = {"gemini": "google-gemini", "gemini-pro": "google-gemini"}
    calls = (_CHAT,)
    rejection_markers = ("Just a moment", "cf-browser-verification", "challenge-platform")

    async def stream(self, session: ProviderSession, request: ChatRequest) -> AsyncIterator[Event]:
        body = chat_body(request)
        device = session.tokens.get("device_id", "")
        for attempt in (1, 2):
            headers = [
                *signature_headers(session.now(), secrets.token_hex(16)),
                ("x-flow-device-id", device),
                *_HEADERS,
            ]
            try:
                async with session.request(
                    "POST", f"{_API}/v3/chat-anonymous", json_body=body, headers=headers, call=_CHAT
                ) as reply:
                    parser = NDJSONParser()
                    async for line in session.lines(reply):
                        for event in parser.feed(line):
                            yield event
                return
            except CredentialRejected:
                raise
            except ProviderError as exc:
                # Raised by the request itself, before any event: safe to send again.
                if exc.status not in (401, 403):
                    raise
                if attempt == 2:
                    raise ProviderError(
                        f"{exc}; the signature was refused twice (is this machine's clock right?)",
                        status=exc.status,
                        body=exc.body,
                    ) from exc
                logger.info("flowgpt: the signature was refused (%s); signing again", exc.status)


def signature_headers(now: float, nonce: str) -> list[tuple[str, str]]:
    """The signing headers of a request made at ``now`` with ``nonce`` (32 hex)."""
    stamp = str(int(now))
    signature = hashlib.md5(f"{stamp}-{nonce}-{_AUTHORIZATION}".encode()).hexdigest()
    return [
        ("authorization", _AUTHORIZATION),
        ("x-nonce", nonce),
        ("x-signature", signature),
        ("x-timestamp", stamp),
    ]


def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of ``POST /v3/chat-anonymous``: the last message is the question,
    the earlier non-system ones follow the greeting in the history."""
    *earlier, last = request.messages
    return {
        "model": request.model,
        "nsfw": False,
        "question": last.content,
        "history": [
            _GREETING,
            *({"role": m.role, "content": m.content} for m in earlier if m.role != "system"),
        ],
        "system": "\n".join(request.system) or _DEFAULT_SYSTEM,
        "temperature": 0.7,
        "promptId": f"model-{request.model}",
        "documentIds": [],
        "chatFileDocumentIds": [],
        "generateImage": False,
        "generateAudio": False,
    }


class NDJSONParser:
    """One JSON object per line; ``{"event": "text", "data": ...}`` is a text delta.

    Other events and objects without one carry nothing to report; lines that are not
    JSON objects are skipped with a shortened warning.
    """

    def feed(self, line: str) -> list[Event]:
        if not line.strip():
            return []
        try:
            record = json.loads(line)
        except ValueError:
            logger.warning("flowgpt: skipped an undecodable line: %s", shorten(line, 80))
            return []
        if not isinstance(record, dict):
            logger.warning("flowgpt: skipped a line that is not an object: %s", shorten(line, 80))
            return []
        data = record.get("data")
        if record.get("event") == "text" and isinstance(data, str) and data:
            return [TextDelta(data)]
        return []


_HEADERS = (
    ("content-type", "application/json"),
    ("accept", "*/*"),
    ("origin", _SITE),
    ("sec-fetch-site", "same-site"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
    ("referer", f"{_SITE}/"),
)
