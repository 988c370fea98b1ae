"""Bytes to lines, whatever the network's read boundaries."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client._lines import LineDecoder, split_lines

TEXT = '0:"Ünïcödé 日本語 🚀"\r\ne:{"a":1}\n\nd:{}\n'
LINES = ['0:"Ünïcödé 日本語 🚀"', 'e:{"a":1}', "", "d:{}"]


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        pytest.param([b"a\nb\n"], ["a", "b"], id="several records in one read"),
        pytest.param([b"ab", b"c\n"], ["abc"], id="a record split across reads"),
        pytest.param([b"a", b"b", b"c", b"\n", b"d\n"], ["abc", "d"], id="byte by byte"),
        pytest.param([b"a\r\nb\r\n"], ["a", "b"], id="CRLF"),
        pytest.param([b"a\r", b"\nb\n"], ["a", "b"], id="CR and LF in different reads"),
        pytest.param([b"a\rb\r"], ["a", "b"], id="a lone CR ends a line"),
        pytest.param([b"a\r\rb\n"], ["a", "", "b"], id="CR CR is a blank line"),
        pytest.param([b"a\r", b"", b"\n", b"b\n"], ["a", "b"], id="an empty read between"),
        pytest.param([b"a\r", b"b\n"], ["a", "b"], id="a CR at a read's end, then no LF"),
        pytest.param([b"a\n\rb\n"], ["a", "", "b"], id="LF CR"),
        pytest.param([b"\xef\xbb\xbfa\n"], ["a"], id="a leading BOM skipped"),
        pytest.param([b"\xef", b"\xbb", b"\xbfa\n"], ["a"], id="a BOM split over reads"),
        pytest.param([b"\xef\xbb\xbf\xef\xbb\xbfa\n"], ["\ufeffa"], id="only one BOM"),
        pytest.param([b"a\n\xef\xbb\xbfb\n"], ["a", "\ufeffb"], id="a BOM later stays"),
        pytest.param([b"\xef\xbb"], ["\ufffd"], id="half a BOM at the end"),
        pytest.param(["é\n".encode()[:1], "é\n".encode()[1:]], ["é"], id="split UTF-8"),
        pytest.param(
            ["🚀\n".encode()[:1], "🚀\n".encode()[1:3], "🚀\n".encode()[3:]],
            ["🚀"],
            id="a 4-byte character over three reads",
        ),
        pytest.param([b"a\n", b"tail"], ["a", "tail"], id="no final newline"),
        pytest.param([b"a\n\n"], ["a", ""], id="blank line kept"),
        pytest.param([b"\xff\xfeok\n"], ["\ufffd\ufffdok"], id="invalid UTF-8 replaced"),
        pytest.param([b""], [], id="nothing"),
    ],
)
def test_lines(chunks: list[bytes], lines: list[str]) -> None:
    assert list(split_lines(chunks)) == lines


def test_feed_returns_lines_as_soon_as_they_are_complete() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b'0:"a') == []
    assert decoder.feed(b'"\n0:') == ['0:"a"']
    assert decoder.feed(b'"b"\n') == ['0:"b"']
    assert decoder.close() == []


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=20))
def test_any_bytes_any_split_give_the_lines_of_the_whole(data: bytes, cuts: list[int]) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    whole = list(split_lines([data]))
    assert list(split_lines(chunks)) == whole
    assert not any("\r" in line or "\n" in line for line in whole)


@given(st.lists(st.integers(min_value=0, max_value=len(TEXT.encode())), max_size=12))
def test_any_split_gives_the_same_lines(cuts: list[int]) -> None:
    data = TEXT.encode()
    points = sorted(set(cuts))
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert list(split_lines(chunks)) == LINES
