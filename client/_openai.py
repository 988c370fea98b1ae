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
    "Deltas",
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
        profile: str | None = ...,
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
        profile: str | None = ...,
        **options: Any,
    ) -> AsyncIterator[ChatCompletionChunk]: ...

    async def create(
        self,
        *,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: bool = False,
        profile: str | None = None,
        **options: Any,
    ) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
        """Like OpenAI's: ``stream=True`` gives an async iterator of chunks. Without
        ``profile``, one of the provider's configured profiles (see ``stream``)."""
        first = self._client.config.provider(provider).profiles[0]
        resolved = await self._client.resolve_model(provider, model, profile=profile or first)
        chunks = self._chunks(provider, resolved, messages, profile, options)
        if stream:
            return chunks
        return await collect_completion(chunks)

    def _chunks(
        self,
        provider: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        profile: str | None,
        options: Mapping[str, Any],
    ) -> AsyncIterator[ChatCompletionChunk]:
        events = self._client.stream(provider, messages, model=model, profile=profile, **options)
        return completion_chunks(events, model)


class Deltas:
    """Folds events into OpenAI delta fields, the one mapping of events to a message:
    text as ``content``, an image answer as Markdown image links in ``content``, status
    lines as ``reasoning_content`` (when ``reasoning``, else left out); the first delta
    carries the role. Usage and the finish reason are kept for the last chunk."""

    def __init__(self, *, reasoning: bool = False) -> None:
        self.reasoning = reasoning
        self.usage: Usage | None = None
        self.finish: str | None = None
        self.first = True

    def feed(self, event: Event) -> dict[str, str] | None:
        """The fields ``event`` adds to the message, or ``None`` if it adds none."""
        fields: dict[str, str]
        if isinstance(event, str):
            fields = {"content": str(event)}
        elif isinstance(event, ImageResponse):
            fields = {"content": "\n".join(f"![{event.alt}]({url})" for url in event.urls)}
        elif isinstance(event, Usage):
            self.usage = event
            return None
        elif isinstance(event, FinishReason):
            self.finish = event.reason
            return None
        elif isinstance(event, Reasoning) and self.reasoning:
            fields = {"reasoning_content": event.status + "\n"}
        else:
            return None
        if self.first:
            self.first = False
            return {"role": "assistant", **fields}
        return fields

    def last(self) -> dict[str, str]:
        """The last chunk's delta: empty, but for the role if nothing came before."""
        return {"role": "assistant"} if self.first else {}

    @property
    def finish_reason(self) -> str:
        return self.finish or "stop"


async def completion_chunks(
    events: AsyncIterator[Event], model: str, *, reasoning: bool = False
) -> AsyncIterator[ChatCompletionChunk]:
    """``events`` as OpenAI chunks (see ``Deltas``), then a last chunk with an empty
    delta that carries the finish reason and the usage."""
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    deltas = Deltas(reasoning=reasoning)
    async for event in events:
        fields = deltas.feed(event)
        if fields is not None:
            delta = ChoiceDelta(**fields)
            yield ChatCompletionChunk(ident, created, model, [ChunkChoice(0, delta)])
    last = ChunkChoice(0, ChoiceDelta(**deltas.last()), deltas.finish_reason)
    yield ChatCompletionChunk(ident, created, model, [last], usage=_usage(deltas.usage))


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
