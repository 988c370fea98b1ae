"""Bytes from the network to complete text lines, whatever the reads' boundaries.

Network reads split records anywhere: inside a line, between ``\\r`` and ``\\n``, inside
a multi-byte UTF-8 character. ``LineDecoder`` holds the unfinished tail until the rest
arrives; it does no I/O, so the same code serves every provider and every test table.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

__all__ = ["LineDecoder", "split_lines"]


class LineDecoder:
    """Feed it bytes as they arrive; it returns the lines they completed.

    Lines end with ``\\n`` or ``\\r\\n`` (the terminator is removed). Invalid UTF-8 is
    replaced with U+FFFD rather than raising: one bad byte must not lose a stream.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail: list[str] = []  # the unfinished line, in pieces (no quadratic joins)

    def feed(self, data: bytes) -> list[str]:
        """The lines completed by ``data``."""
        text = self._decoder.decode(data)
        if "\n" not in text:
            if text:
                self._tail.append(text)
            return []
        first, *rest = text.split("\n")
        self._tail.append(first)
        lines = ["".join(self._tail), *rest[:-1]]
        self._tail = [rest[-1]] if rest[-1] else []
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def close(self) -> list[str]:
        """The last line if the data did not end with a terminator."""
        self._tail.append(self._decoder.decode(b"", final=True))
        last = "".join(self._tail)
        self._tail = []
        if last.endswith("\r"):
            last = last[:-1]
        return [last] if last else []


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Every line in ``chunks``, however the bytes were split."""
    decoder = LineDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()
