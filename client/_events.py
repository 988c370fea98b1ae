"""What a stream yields: text deltas and a few typed events (DESIGN.md, "Events").

Text arrives as ``TextDelta``, a ``str`` subclass, so ``"".join(events)`` of the text
works; everything else is a frozen dataclass with a stable repr and a JSON form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Event",
    "FinishReason",
    "ImageResponse",
    "Reasoning",
    "TextDelta",
    "Usage",
    "event_to_json",
]


class TextDelta(str):
    """A piece of the answer's text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"TextDelta({str.__repr__(self)})"


@dataclass(frozen=True)
class Usage:
    """Token counts the provider reported."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class FinishReason:
    """Why the answer ended: ``"stop"``, ``"length"``, ``"error"``, ..."""

    reason: str


@dataclass(frozen=True)
class Reasoning:
    """A status line about work in progress (not part of the answer)."""

    status: str


@dataclass(frozen=True)
class ImageResponse:
    """Generated images: their URLs and the alt text (usually the prompt)."""

    urls: tuple[str, ...]
    alt: str = ""


Event = TextDelta | Usage | FinishReason | Reasoning | ImageResponse


def event_to_json(event: Event | str) -> dict[str, Any]:
    """The JSON form of an event: ``{"type": "text", "text": ...}`` and so on."""
    if isinstance(event, str):
        return {"type": "text", "text": str(event)}
    kinds = {
        Usage: "usage",
        FinishReason: "finish",
        Reasoning: "reasoning",
        ImageResponse: "image",
    }
    body = asdict(event)
    if isinstance(event, ImageResponse):
        body["urls"] = list(event.urls)
    return {"type": kinds[type(event)], **body}
