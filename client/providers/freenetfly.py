"""FreeNetfly (PROVIDERS.md section 3): an OpenAI-compatible chat streamed as SSE.

Its documented retry rule is its own: up to 5 attempts, 2 s apart and doubling (2, 4,
8, 16 s), on connection errors, timeouts and 5xx, never once text reached the caller.

The rule for odd records: a ``data:`` record that is not JSON, or JSON that is not a
chat-completion chunk, is logged (shortened) and skipped, so one bad record costs
nothing but itself; an ``error`` object is the service speaking and raises
``ProviderError`` with its message. Events of another type than ``message`` (a
``ping``) are ignored. A last record the server closes the stream after without its
blank line still counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fingerprint import Call

from .._errors import ProviderError, shorten
from .._events import Event, FinishReason, TextDelta, Usage
from .._provider import ChatRequest, Provider
from .._recipe import HarvestRecipe, Ready
from .._retry import RetryPolicy
from .._session import ProviderSession
from .._sse import ServerSentEvent

__all__ = ["ChunkParser", "FreeNetflyProvider", "chat_body"]

logger = logging.getLogger("client.freenetfly")

_URL = "https://free.netfly.top"
# The app's chat call: a JSON POST whose script sets Accept (for the event stream).
_CHAT = Call("POST", "application/json", ("accept",))


class FreeNetflyProvider(Provider):
    name = "freenetfly"
    label = "FreeNetfly"
    url = _URL
    recipe = HarvestRecipe(
        start_url=f"{_URL}/",
        # The app posts to /api/config once its session cookie is set: that request's
        # headers are the ones its chat requests carry.
        ready=Ready(cookie="nf_sid", request=r"/api/config"),
        capture=r"/api/config",
        lifetime=3600.0,
        expiry_cookie="nf_sid",
    )
    default_model = "gpt-3.5-turbo"
    models = ("gpt-3.5-turbo", "gpt-4")
    rejection_markers = ("invalid_session",)
    documented_retry = RetryPolicy(retries=4, backoff=2.0, backoff_max=16.0, jitter=False)
    calls = (_CHAT,)

    async def stream(self, session: ProviderSession, request: ChatRequest) -> AsyncIterator[Event]:
        async with session.request(
            "POST",
            f"{_URL}/api/openai/v1/chat/completions",
            json_body=chat_body(request),
            headers=_HEADERS,
            call=_CHAT,
        ) as reply:
            parser = ChunkParser()
            # This protocol ends at ``data: [DONE]``, and a server may close right
            # after its last record with no blank line: the record the standard
            # decoder would discard is kept, so no text that arrived is lost.
            async for event in session.events(reply, keep_unfinished=True):
                if parser.done:
                    break
                for item in parser.feed(event):
                    yield item


def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of ``POST /api/openai/v1/chat/completions``."""
    return {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        "model": request.model,
        "temperature": 0.5,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_p": 1,
    }


class ChunkParser:
    """OpenAI chat-completion chunks (one per SSE event) to events; see the module's
    rule for records it cannot use. ``done`` turns true at ``data: [DONE]``."""

    def __init__(self) -> None:
        self.done = False

    def feed(self, event: ServerSentEvent) -> list[Event]:
        if event.event != "message":
            return []
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            return _skip("an undecodable", data)
        if not isinstance(chunk, dict):
            return _skip("an unexpected", data)
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise ProviderError(
                f"freenetfly: the service reported an error: {shorten(str(message))}"
            )
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            return _skip("an unexpected", data)
        choice = choices[0] if choices else {}
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if content is not None and not isinstance(content, str):
            return _skip("an unexpected", data)
        events: list[Event] = [TextDelta(content)] if content else []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            events.append(Usage(_int(prompt), _int(completion)))
        reason = choice.get("finish_reason")
        if isinstance(reason, str):
            events.append(FinishReason(reason))
        return events


def _skip(kind: str, data: str) -> list[Event]:
    logger.warning("freenetfly: skipped %s data: record: %s", kind, shorten(data, 80))
    return []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_HEADERS = (
    ("accept", "application/json, text/event-stream"),
    ("content-type", "application/json"),
    ("origin", _URL),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
    ("referer", f"{_URL}/"),
)
