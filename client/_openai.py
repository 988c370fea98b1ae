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

from ._events import Event, FinishReason, ImageResponse, Reasoning, Usage

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
    "collect_completion",
    "completion_chunks",
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
    reasoning_content: str | None = None  # status lines, when asked for


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
    reasoning_content: str | None = None  # a status line (``Reasoning``), when asked for


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
        return await collect_completion(chunks)

    def _chunks(
        self,
        provider: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        profile: str,
        options: Mapping[str, Any],
    ) -> AsyncIterator[ChatCompletionChunk]:
        events = self._client.stream(provider, messages, model=model, profile=profile, **options)
        return completion_chunks(events, model)


async def completion_chunks(
    events: AsyncIterator[Event], model: str, *, reasoning: bool = False
) -> AsyncIterator[ChatCompletionChunk]:
    """``events`` as OpenAI chunks: the first delta carries the role, an image answer
    becomes Markdown image links, and a last chunk with an empty delta carries the
    finish reason and the usage. Status lines become ``reasoning_content`` deltas when
    ``reasoning``, else they are left out."""
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    usage: Usage | None = None
    finish: str | None = None
    first = True
    async for event in events:
        thought: str | None = None
        text: str | None = None
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
        elif isinstance(event, Reasoning) and reasoning:
            thought = event.status + "\n"
        else:
            continue
        role = "assistant" if first else None
        first = False
        delta = ChoiceDelta(role=role, content=text, reasoning_content=thought)
        yield ChatCompletionChunk(ident, created, model, [ChunkChoice(0, delta)])
    yield ChatCompletionChunk(
        ident,
        created,
        model,
        [ChunkChoice(0, ChoiceDelta(role="assistant" if first else None), finish or "stop")],
        usage=_usage(usage),
    )


async def collect_completion(chunks: AsyncIterator[ChatCompletionChunk]) -> ChatCompletion:
    """The one ``ChatCompletion`` that ``chunks`` (of ``completion_chunks``) make."""
    parts: list[str] = []
    thoughts: list[str] = []
    last: ChatCompletionChunk | None = None
    async for chunk in chunks:
        last = chunk
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            thoughts.append(choice.delta.reasoning_content or "")
    assert last is not None  # the final chunk is always yielded
    reasoning = "".join(thoughts) or None
    message = ChatCompletionMessage("assistant", "".join(parts), reasoning)
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
