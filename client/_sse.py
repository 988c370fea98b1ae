"""Server-Sent Events: text lines to events, as the WHATWG ``EventSource`` parses them.

The decoder is fed complete lines (``LineDecoder`` has already dealt with records split
across reads); a blank line dispatches the event gathered so far. Pure, like
``LineDecoder``, so the same tables test every provider that speaks SSE.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "split_events"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type (``"message"`` unless named), data and id."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed it lines; it returns an event when a blank line completes one.

    ``data:`` lines are joined with ``\\n``; a single space after the colon is not part
    of the value; ``:`` lines are comments; unknown fields are ignored. An event with
    no ``data`` is not dispatched, as in browsers.
    """

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """The event ``line`` completes, if it is the blank line that ends one."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def close(self) -> ServerSentEvent | None:
        """The last event when the stream ended without its blank line.

        Browsers drop it; servers that close right after ``data: [DONE]`` exist, and a
        last record should not vanish because a blank line did not make it.
        """
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or "message", self._id, retry)


def split_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Every event in ``lines``."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
    last = decoder.close()
    if last is not None:
        yield last
