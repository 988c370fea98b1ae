"""``Client``: the blocking facade over ``AsyncClient`` (one implementation, not two).

An event loop runs in a thread the client owns for its whole life; every call is sent
there. That thread also starts the browser when an in-process refresher harvests, and
it lives as long as the client (Chromium is tied to the thread that started it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

import anyio
from anyio.from_thread import start_blocking_portal

from ._client import AsyncClient, Refresher
from ._config import Config
from ._events import Event
from ._openai import ChatCompletion, ChatCompletionChunk
from ._provider import Message

__all__ = ["Client"]

_T = TypeVar("_T")
# Events a stream may run ahead of a slow reader.
_BUFFER = 64


class Client:
    """Blocking client: ``with Client() as c: for event in c.stream(...)``.

    Takes the same arguments as ``AsyncClient``.
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        refresher: Refresher | None = None,
    ) -> None:
        self._stack = contextlib.ExitStack()
        self._portal = self._stack.enter_context(start_blocking_portal("asyncio"))
        try:
            self._async = AsyncClient(config, refresher=refresher)
            self._stack.enter_context(self._portal.wrap_async_context_manager(self._async))
        except BaseException:
            self._stack.close()
            raise
        self.chat = _Chat(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and stop its event loop thread."""
        self._stack.close()

    @property
    def config(self) -> Config:
        return self._async.config

    def models(self, provider: str, *, profile: str = "default") -> list[str]:
        """See ``AsyncClient.models``."""
        return self._portal.call(partial(self._async.models, provider, profile=profile))

    def stream(
        self,
        provider: str,
        messages: str | Sequence[Mapping[str, Any] | Message],
        *,
        model: str | None = None,
        profile: str | None = None,
        **options: Any,
    ) -> Iterator[Event]:
        """See ``AsyncClient.stream``; events arrive as the provider sends them."""

        async def events() -> AsyncIterator[Event]:
            return self._async.stream(provider, messages, model=model, profile=profile, **options)

        return self._iterate(events)

    def _call(self, function: Callable[[], Awaitable[_T]]) -> _T:
        return self._portal.call(function)

    def _iterate(self, start: Callable[[], Awaitable[AsyncIterator[_T]]]) -> Iterator[_T]:
        """Iterate an async iterator that lives in the loop thread, in one task there
        (its cancel scopes and locks must stay in the task that entered them)."""
        send, receive = anyio.create_memory_object_stream[_T](max_buffer_size=_BUFFER)

        async def pump() -> None:
            async with send:
                async for item in await start():
                    await send.send(item)

        future = self._portal.start_task_soon(pump)
        try:
            while True:
                try:
                    item = self._portal.call(receive.receive)
                except anyio.EndOfStream:
                    break
                yield item
            future.result()  # the pump's error, if it ended with one
        finally:
            if not future.done():
                future.cancel()
            self._portal.call(receive.aclose)


class _Completions:
    def __init__(self, client: Client) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: Literal[False] = ...,
        **options: Any,
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str | None = ...,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: Literal[True],
        **options: Any,
    ) -> Iterator[ChatCompletionChunk]: ...

    def create(
        self,
        *,
        model: str | None = None,
        messages: Sequence[Mapping[str, Any]],
        provider: str,
        stream: bool = False,
        **options: Any,
    ) -> ChatCompletion | Iterator[ChatCompletionChunk]:
        """Like OpenAI's: ``stream=True`` gives an iterator of chunks."""
        completions = self._client._async.chat.completions
        if stream:

            async def chunks() -> AsyncIterator[ChatCompletionChunk]:
                return await completions.create(
                    model=model, messages=messages, provider=provider, stream=True, **options
                )

            return self._client._iterate(chunks)
        return self._client._call(
            partial(
                completions.create,
                model=model,
                messages=messages,
                provider=provider,
                stream=False,
                **options,
            )
        )


class _Chat:
    def __init__(self, client: Client) -> None:
        self.completions = _Completions(client)
