"""An OpenAI-style facade: ``client.chat.completions.create(...)``.

The returned objects have the shape of OpenAI's ``ChatCompletion`` and
``ChatCompletionChunk`` (id, object, created, model, choices with message/delta and
finish_reason, usage), so code written for the OpenAI SDK reads them unchanged. They
are built from the same event stream as ``AsyncClient.stream``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from ._events import FinishReason, ImageResponse, Usage

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "CompletionUsage",
]


@dataclass(frozen=True)
class CompletionUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class ChatCompletionMessage:
    role: str
    content: str


@dataclass(frozen=True)
class Choice:
    index: int
    message: ChatCompletionMessage
    finish_reason: str | None


@dataclass(frozen=True)
class ChatCompletion:
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None = None
    object: str = "chat.completion"

    def model_dump(self) -> dict[str, Any]:
        """A JSON-ready dict, as the OpenAI SDK's objects give."""
        return asdict(self)


@dataclass(frozen=True)
class ChoiceDelta:
    role: str | None = None
    content: str | None = None


@dataclass(frozen=True)
class ChunkChoice:
    index: int
    delta: ChoiceDelta
    finish_reason: str | None = None


@dataclass(frozen=True)
class ChatCompletionChunk:
    id: str
    created: int
    model: str
    choices: list[ChunkChoice] = field(default_factory=list)
    usage: CompletionUsage | None = None
    object: str = "chat.completion.chunk"

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


def _usage(usage: Usage | None) -> CompletionUsage | None:
    if usage is None:
        return None
    return CompletionUsage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


class AsyncCompletions:
    """``client.chat.completions``."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: Literal[False] = ...,
        profile: str = ...,
        **options: Any,
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: Literal[True],
        profile: str = ...,
        **options: Any,
    ) -> AsyncIterator[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: bool = False,
        profile: str = "default",
        **options: Any,
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
        """Like OpenAI's: ``stream=True`` gives an async iterator of chunks."""
        resolved = await self._client.resolve_model(provider, model, profile=profile)
        chunks = self._chunks(provider, resolved, messages, profile, options)
        if stream:
            return chunks
        return await _collect(chunks)

    async def _chunks(
        self,
        provider: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        profile: str,
        options: Mapping[str, Any],
    ) -> AsyncIterator[ChatCompletionChunk]:
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        usage: Usage | None = None
        finish: str | None = None
        first = True
        events = self._client.stream(provider, messages, model=model, profile=profile, **options)
        async for event in events:
            if isinstance(event, str):
                text = str(event)
            elif isinstance(event, ImageResponse):
                text = "\n".join(f"![{event.alt}]({url})" for url in event.urls)
            elif isinstance(event, Usage):
                usage = event
                continue
            elif isinstance(event, FinishReason):
                finish = event.reason
                continue
            else:
                continue  # Reasoning status lines have no place in a completion
            delta = ChoiceDelta(role="assistant" if first else None, content=text)
            first = False
            yield ChatCompletionChunk(ident, created, model, [ChunkChoice(0, delta)])
        yield ChatCompletionChunk(
            ident,
            created,
            model,
            [ChunkChoice(0, ChoiceDelta(), finish_reason=finish or "stop")],
            usage=_usage(usage),
        )


async def _collect(chunks: AsyncIterator[ChatCompletionChunk]) -> ChatCompletion:
    parts: list[str] = []
    last: ChatCompletionChunk | None = None
    async for chunk in chunks:
        last = chunk
        parts.extend(c.delta.content for c in chunk.choices if c.delta.content)
    assert last is not None  # the final chunk is always yielded
    message = ChatCompletionMessage("assistant", "".join(parts))
    return ChatCompletion(
        last.id,
        last.created,
        last.model,
        [Choice(0, message, last.choices[0].finish_reason)],
        usage=last.usage,
    )


class AsyncChat:
    """``client.chat``."""

    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncCompletions(client)
