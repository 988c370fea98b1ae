"""Server-Sent Events from lines, whatever the reads' boundaries, and retry delays."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client import (
    ClientConfig,
    ProviderConfig,
    RetryPolicy,
    ServerSentEvent,
)
from client._lines import LineDecoder
from client._sse import SSEDecoder, split_events

E = ServerSentEvent


def decode(body: bytes, chunks: list[bytes] | None = None) -> tuple[list[E], int | None]:
    """The events a stream of ``body`` (read as ``chunks``) dispatches, and the
    reconnection time it leaves, the way ``ProviderSession.events`` reads them."""
    lines, decoder = LineDecoder(), SSEDecoder()
    events = []
    for chunk in [body] if chunks is None else chunks:
        for line in lines.feed(chunk):
            if (event := decoder.feed(line)) is not None:
                events.append(event)
    return events, decoder.reconnection_time


# One case per rule of the HTML standard's "interpreting an event stream" (9.2.6).
RULES = [
    pytest.param("data: a\n\n", [E("a")], None, id="one event"),
    pytest.param("data: a\n\ndata: b\n\n", [E("a"), E("b")], None, id="two events"),
    pytest.param("data: a\ndata: b\n\n", [E("a\nb")], None, id="data lines joined with LF"),
    pytest.param("data:a\n\n", [E("a")], None, id="no space after the colon"),
    pytest.param("data:  a\n\n", [E(" a")], None, id="only one space removed"),
    pytest.param("data:\ta\n\n", [E("\ta")], None, id="a tab is kept"),
    pytest.param("data\n\n", [E("")], None, id="a field name alone: an empty value"),
    pytest.param("data\ndata\n\n", [E("\n")], None, id="two empty data lines"),
    pytest.param("data: a:b\n\n", [E("a:b")], None, id="only the first colon splits"),
    pytest.param("event: ping\ndata: {}\n\n", [E("{}", "ping")], None, id="a named event"),
    pytest.param("event:\ndata: x\n\n", [E("x")], None, id="an empty type is message"),
    pytest.param(
        "event: foo\n\ndata: x\n\n", [E("x")], None, id="a block without data resets the type"
    ),
    pytest.param("data: x\nevent\n\n", [E("x")], None, id="event without a colon"),
    pytest.param(
        "id: 7\ndata: x\n\ndata: y\n\n",
        [E("x", id="7"), E("y", id="7")],
        None,
        id="the id persists",
    ),
    pytest.param(
        "id: 7\n\ndata: x\n\n", [E("x", id="7")], None, id="an id in a block without data"
    ),
    pytest.param(
        "id: 1\ndata: a\n\nid\ndata: b\n\n",
        [E("a", id="1"), E("b")],
        None,
        id="an empty id resets it",
    ),
    pytest.param(
        "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
        [E("a", id="1"), E("b", id="1")],
        None,
        id="an id with NUL is ignored",
    ),
    pytest.param("retry: 300\ndata: x\n\n", [E("x")], 300, id="retry"),
    pytest.param("retry: 0300\ndata: x\n\n", [E("x")], 300, id="retry with leading zeros"),
    pytest.param("retry: 500\n\n", [], 500, id="retry acts at once, dispatch or not"),
    pytest.param("retry: 500\nretry: 1x\n\n", [], 500, id="a bad retry keeps the last"),
    pytest.param("retry: \u00b2\n\n", [], None, id="retry: a superscript is no digit"),
    pytest.param("retry: \u0661\u0662\n\n", [], None, id="retry: Arabic-Indic digits"),
    pytest.param("retry: -1\n\n", [], None, id="retry: no sign"),
    pytest.param("retry:\n\n", [], None, id="retry: empty"),
    pytest.param("retry: 18446744073709551616\n\n", [], None, id="retry past 64 bits ignored"),
    pytest.param("retry: " + "9" * 5000 + "\n\n", [], None, id="retry of 5000 digits"),
    pytest.param(": comment\ndata: x\n\n", [E("x")], None, id="a comment"),
    pytest.param(
        "foo: bar\nData: y\ndata: x\n\n", [E("x")], None, id="unknown fields, names case-sensitive"
    ),
    pytest.param("event: ping\n\n", [], None, id="no data, no event"),
    pytest.param("\n\ndata: x\n\n\n", [E("x")], None, id="extra blank lines"),
    pytest.param("data: a\rdata: b\r\r", [E("a\nb")], None, id="a lone CR ends a line"),
    pytest.param("data: a\r\n\r\n", [E("a")], None, id="CRLF"),
    pytest.param("data: a\n\r\rdata: b\r\n\n", [E("a"), E("b")], None, id="mixed line ends"),
    pytest.param("\ufeffdata: a\n\n", [E("a")], None, id="one leading BOM skipped"),
    pytest.param(
        "\ufeff\ufeffdata: a\n\ndata: b\n\n", [E("b")], None, id="a second BOM is part of the name"
    ),
    pytest.param("data: a\n\n\ufeffdata: b\n\n", [E("a")], None, id="a BOM later is no BOM"),
    pytest.param("data: a\n\ndata: b", [E("a")], None, id="an unfinished event is not dispatched"),
    pytest.param("data: a\n\ndata: b\n", [E("a")], None, id="not even with its line ended"),
    pytest.param("data: a\n\nretry: 9", [E("a")], None, id="an unfinished line is not a field"),
    pytest.param("data: \x00\n\n", [E("\x00")], None, id="NUL in data is kept"),
]


@pytest.mark.parametrize(("body", "events", "retry"), RULES)
def test_the_standards_rules(body: str, events: list[E], retry: int | None) -> None:
    assert decode(body.encode()) == (events, retry)


def test_invalid_utf8_is_replaced() -> None:
    assert decode(b"data: \xff\xfeok\n\n") == ([E("\ufffd\ufffdok")], None)


def test_split_events_is_the_standard_and_close_gives_the_unfinished_one() -> None:
    assert list(split_events(["data: a", "", "data: b"])) == [E("a")]
    decoder = SSEDecoder()
    assert decoder.feed("id: 3") is None
    assert decoder.feed("data: [DONE]") is None
    assert decoder.close() == E("[DONE]", id="3")
    assert decoder.close() is None


STREAM = (
    '\ufeffdata: {"choices":[{"delta":{"content":"Ünï"}}]}\n\n'
    ": keep-alive\r\r"
    "event: ping\rdata: 1\r\n\r\n"
    'data: {"a":\r\ndata: 2}\r\n\r\n'
    "retry: 1500\n"
    "id: 9\n"
    "data: [DONE]\n\n"
    "data: never dispatched"
).encode()
EVENTS = [
    E('{"choices":[{"delta":{"content":"Ünï"}}]}'),
    E("1", "ping"),
    E('{"a":\n2}'),
    E("[DONE]", id="9"),
]


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *cuts})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    assert decode(STREAM, cut(STREAM, cuts)) == (EVENTS, 1500)


FIELDS = (b"data", b"event", b"id", b"retry", b":", b" ", b"\r", b"\n", b"\r\n", b"x", b"7")
ODD_BYTES = (b"\x00", b"\xef\xbb\xbf", b"\xff", "é".encode(), "\u00b2".encode())


@given(
    st.lists(
        st.sampled_from([*FIELDS, *ODD_BYTES]),
        max_size=60,
    ).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=200), max_size=20),
)
def test_any_bytes_any_split_the_same_as_whole(body: bytes, cuts: list[int]) -> None:
    assert decode(body, cut(body, cuts)) == decode(body)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=20))
def test_raw_bytes_never_raise(body: bytes, cuts: list[int]) -> None:
    assert decode(body, cut(body, cuts)) == decode(body)


def test_freenetflys_documented_delays_and_the_default_jitter() -> None:
    documented = RetryPolicy(retries=4, backoff=2.0, backoff_max=16.0, jitter=False)
    assert documented.attempts == 5
    assert [documented.delay(n, lambda: 0.9) for n in range(1, 5)] == [2.0, 4.0, 8.0, 16.0]
    jittered = ClientConfig(retry_backoff=1.0, retry_backoff_max=3.0).default_retry
    assert [jittered.delay(n, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert [jittered.delay(n, lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]


def test_a_provider_table_overrides_only_what_it_sets() -> None:
    documented = RetryPolicy(retries=4, backoff=2.0, backoff_max=16.0, jitter=False)
    table = ProviderConfig(retry_backoff=0.01)
    assert table.override_retry(documented) == RetryPolicy(4, 0.01, 16.0, jitter=False)
    assert ProviderConfig().override_retry(documented) == documented
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(retries=-1)
