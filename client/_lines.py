"""Bytes from the network to complete text lines, whatever the reads' boundaries.

The rules are the HTML standard's for an event stream (section 9.2.6): the bytes are
UTF-8 decoded with one leading byte order mark skipped and invalid sequences replaced
by U+FFFD, and a line ends at CRLF, at LF, or at a CR not followed by LF. Network
reads split records anywhere: inside a line, between CR and LF, inside a multi-byte
character. ``LineDecoder`` holds the unfinished tail until the rest arrives; it does
no I/O, so the same code serves every provider and every test table.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

__all__ = ["LineDecoder", "split_lines"]


class LineDecoder:
    """Feed it bytes as they arrive; it returns the lines they completed.

    A line is returned as soon as its terminator arrives (a CR at the end of a read
    ends its line at once; an LF starting the next read is then the rest of that
    CRLF). Nothing raises: one bad byte must not lose a stream.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail: list[str] = []  # the unfinished line, in pieces (no quadratic joins)
        self._after_cr = False  # the last character seen was a CR
        # The first character decides the BOM (utf-8-sig would lose half a BOM at
        # the end of a stream instead of replacing it).
        self._first = True

    def feed(self, data: bytes) -> list[str]:
        """The lines completed by ``data``."""
        text = self._decoder.decode(data)
        if not text:
            return []
        if self._first:
            self._first = False
            if text[0] == "\ufeff":
                text = text[1:]
                if not text:
                    return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            self._after_cr = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            if text:
                self._tail.append(text)
            return []
        first, *rest = text.split("\n")
        self._tail.append(first)
        lines = ["".join(self._tail), *rest[:-1]]
        self._tail = [rest[-1]] if rest[-1] else []
        return lines

    def close(self) -> list[str]:
        """The last line if the data did not end with a terminator.

        An event stream drops it (the standard discards an unfinished line); line
        protocols such as newline-delimited JSON keep it.
        """
        self._tail.append(self._decoder.decode(b"", final=True))
        last = "".join(self._tail)
        self._tail = []
        self._after_cr = False
        return [last] if last else []


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Every line in ``chunks``, however the bytes were split, the unfinished last
    one included."""
    decoder = LineDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()
