"""Server-Sent Events: lines to events, as the HTML standard interprets an event stream.

Section 9.2.6 of the WHATWG HTML standard, step by step: a blank line dispatches the
event gathered so far; ``data`` lines are joined with LF; one space after the colon is
not part of the value; ``:`` lines are comments; a line without a colon is a field
name with an empty value; unknown fields are ignored; ``id`` without NUL sets the last
event ID, which later events keep; ``retry`` with ASCII digits only sets the stream's
reconnection time at once; an event with no ``data`` is not dispatched, but resets the
event type. When the stream ends, an event not closed by a blank line is discarded.
The decoder is pure (``LineDecoder`` has already dealt with how the bytes were split).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "split_events"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type (``"message"`` unless named), data and the last
    event ID (``""`` until the stream sets one)."""

    data: str
    event: str = "message"
    id: str = ""


class SSEDecoder:
    """Feed it lines; it returns an event when a blank line completes one.

    ``reconnection_time`` is the last valid ``retry`` in milliseconds (``None`` until
    one arrives); ``last_event_id`` is the ID the next event will carry.
    """

    def __init__(self) -> None:
        self._data: list[str] = []  # the data buffer, one item per data line
        self._event = ""  # the event type buffer
        self.last_event_id = ""
        self.reconnection_time: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """The event ``line`` completes, if it is the blank line that ends one."""
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            # ASCII digits only: str.isdigit alone accepts superscripts and
            # Arabic-Indic digits. A value past 64 bits is ignored: no browser keeps
            # a longer one, and int() is never asked for more digits than it parses.
            digits = value.lstrip("0")
            if value.isascii() and value.isdigit() and len(digits) <= 20:
                milliseconds = int(digits or "0")
                if milliseconds < 1 << 64:
                    self.reconnection_time = milliseconds
        return None

    def close(self) -> ServerSentEvent | None:
        """End of stream: the event not closed by a blank line is discarded.

        It is returned (``None`` if there is none) for a provider whose own protocol
        keeps such a last record; a standard consumer ignores it.
        """
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or "message", self.last_event_id)


def split_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Every event the complete ``lines`` of a stream dispatch."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
