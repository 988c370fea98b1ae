"""Cloudflare's AI playground (PROVIDERS.md section 1): chat over the AI SDK data stream.

The site sits behind Cloudflare's browser check; ``cf_clearance`` is bound to the
browser that solved it. The answer streams as one ``<type>:<json>`` record per line:
``0:`` text, ``e:`` end of a step, ``d:`` end of the message, ``3:`` an error; other
types are ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from fingerprint import GET, POST_JSON

from .._errors import ProviderError, shorten
from .._events import Event, FinishReason, TextDelta, Usage
from .._provider import ChatRequest, Provider
from .._recipe import HarvestRecipe, Ready, Widget
from .._session import ProviderSession

__all__ = ["TURNSTILE", "CloudflareProvider", "DataStreamParser"]

logger = logging.getLogger("client.cloudflare")

_URL = "https://playground.ai.cloudflare.com"
_DEFAULT_SYSTEM = "You are a helpful assistant"


# Cloudflare's interactive challenge: a checkbox in a (closed shadow root of a) frame
# from its challenge host, inside a closed shadow root of the challenge page.
TURNSTILE = Widget(
    name="Turnstile checkbox",
    frame=r"^https://challenges\.cloudflare\.com/",
    target="input[type=checkbox]",
)


class CloudflareProvider(Provider):
    name = "cloudflare"
    label = "Cloudflare AI playground"
    url = _URL
    recipe = HarvestRecipe(
        start_url=f"{_URL}/",
        # Past the interstitial the app loads its model list: its headers are the
        # ones an API call of this page carries.
        ready=Ready(title_not="Just a moment", cookie="cf_clearance", request=r"/api/models"),
        capture=r"/api/models",
        lifetime=1800.0,
        expiry_cookie="cf_clearance",
        # An interactive challenge instead of the automatic one: Turnstile's checkbox.
        widgets=(TURNSTILE,),
    )
    calls = (GET, POST_JSON)  # the model list; the inference
    default_model = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    models = (
        "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "@cf/meta/llama-3.1-8b-instruct-fp8",
        "@cf/meta/llama-2-7b-chat-int8",
        "@cf/qwen/qwen2.5-coder-32b-instruct",
        "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    )
    aliases: ClassVar[dict[str, str]] = {
        "llama-3.3-70b": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "llama-3.1-8b": "@cf/meta/llama-3.1-8b-instruct-fp8",
        "llama-2-7b": "@cf/meta/llama-2-7b-chat-int8",
        "qwen-2.5-coder-32b": "@cf/qwen/qwen2.5-coder-32b-instruct",
        "deepseek-distill-qwen-32b": "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
    }
    rejection_markers = (
        "Just a moment",
        "Attention Required",
        "cf-browser-verification",
        "challenge-platform",
    )

    async def fetch_models(self, session: ProviderSession) -> list[str] | None:
        data = await session.fetch_json("GET", f"{_URL}/api/models", headers=_API_HEADERS, call=GET)
        try:
            return [str(model["name"]) for model in data["models"]]
        except (KeyError, TypeError) as exc:
            raise ProviderError(
                f"cloudflare: /api/models answered an unexpected shape ({exc!r})"
            ) from None

    async def stream(self, session: ProviderSession, request: ChatRequest) -> AsyncIterator[Event]:
        async with session.request(
            "POST",
            f"{_URL}/api/inference",
            json_body=inference_body(request),
            headers=_POST_HEADERS,
            call=POST_JSON,
        ) as reply:
            parser = DataStreamParser()
            async for line in session.lines(reply):
                for event in parser.feed(line):
                    yield event


def inference_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of ``POST /api/inference``."""
    system = "\n".join(request.system) or _DEFAULT_SYSTEM
    return {
        "messages": [
            {"role": m.role, "content": m.content, "parts": [{"type": "text", "text": m.content}]}
            for m in request.messages
            if m.role != "system"
        ],
        "lora": None,
        "model": request.model,
        "max_tokens": int(request.options.get("max_tokens", 2048)),
        "stream": True,
        "system_message": system,
        "tools": [],
    }


class DataStreamParser:
    """AI SDK data-stream lines to events.

    ``e:`` (end of a step) yields ``Usage`` and ``FinishReason``; ``d:`` (end of the
    message, same shape) yields them only when no step end came before, so each is
    reported once. ``3:`` raises ``ProviderError`` with the service's message. Blank
    lines, unknown types and undecodable records are skipped (logged, shortened).
    """

    def __init__(self) -> None:
        self.finished = False

    def feed(self, line: str) -> list[Event]:
        kind, sep, payload = line.partition(":")
        if not line.strip():
            return []
        if not sep or len(kind) != 1:
            logger.warning("cloudflare: skipped a line that is not a record: %s", shorten(line, 80))
            return []
        if kind not in "0ed3":
            return []  # f:, 2:, 8:, 9:, a: ... carry nothing this client reports
        try:
            value = json.loads(payload)
        except ValueError:
            logger.warning(
                "cloudflare: skipped an undecodable %s: record: %s", kind, shorten(line, 80)
            )
            return []
        if kind == "0":
            return [TextDelta(value)] if isinstance(value, str) and value else []
        if kind == "3":
            raise ProviderError(f"cloudflare: the service reported an error: {shorten(str(value))}")
        if kind == "d" and self.finished:
            return []
        if not isinstance(value, dict):
            return []
        self.finished = True
        return _finish_events(value)


def _finish_events(value: dict[str, Any]) -> list[Event]:
    events: list[Event] = []
    usage = value.get("usage")
    if isinstance(usage, dict):
        events.append(
            Usage(
                prompt_tokens=_int(usage.get("promptTokens")),
                completion_tokens=_int(usage.get("completionTokens")),
            )
        )
    reason = value.get("finishReason")
    if isinstance(reason, str):
        events.append(FinishReason(reason))
    return events


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_API_HEADERS = (
    ("accept", "*/*"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
    ("referer", f"{_URL}/"),
)
_POST_HEADERS = (
    *_API_HEADERS,
    ("content-type", "application/json"),
    ("origin", _URL),
)
