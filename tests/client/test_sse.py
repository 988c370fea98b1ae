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
from client._lines import split_lines
from client._sse import split_events

E = ServerSentEvent


@pytest.mark.parametrize(
    ("lines", "events"),
    [
        pytest.param(["data: a", ""], [E("a")], id="one event"),
        pytest.param(["data: a", "", "data: b", ""], [E("a"), E("b")], id="two events"),
        pytest.param(["data: a", "data: b", ""], [E("a\nb")], id="data lines joined"),
        pytest.param(["data:a", ""], [E("a")], id="no space after the colon"),
        pytest.param(["data:  a", ""], [E(" a")], id="only one space removed"),
        pytest.param(["data", ""], [E("")], id="a field name alone"),
        pytest.param(["event: ping", "data: {}", ""], [E("{}", "ping")], id="named"),
        pytest.param(["id: 7", "data: x", "", "data: y", ""], [E("x", id="7"), E("y", id="7")]),
        pytest.param(["retry: 300", "data: x", ""], [E("x", retry=300)], id="retry"),
        pytest.param([": comment", "data: x", ""], [E("x")], id="comment ignored"),
        pytest.param(["event: ping", ""], [], id="no data, no event"),
        pytest.param(["foo: bar", "data: x", ""], [E("x")], id="unknown field ignored"),
        pytest.param(["data: [DONE]"], [E("[DONE]")], id="last event without its blank line"),
        pytest.param(["", "", "data: x", "", ""], [E("x")], id="extra blank lines"),
    ],
)
def test_events_from_lines(lines: list[str], events: list[ServerSentEvent]) -> None:
    assert list(split_events(lines)) == events


STREAM = (
    'data: {"choices":[{"delta":{"content":"Ünï"}}]}\n\n'
    ": keep-alive\n\n"
    "event: ping\ndata: 1\n\n"
    'data: {"a":\r\ndata: 2}\r\n\r\n'
    "data: [DONE]\n\n"
).encode()
EVENTS = [
    E('{"choices":[{"delta":{"content":"Ünï"}}]}'),
    E("1", "ping"),
    E('{"a":\n2}'),
    E("[DONE]"),
]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted({0, len(STREAM), *cuts})
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert list(split_events(split_lines(chunks))) == EVENTS


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
