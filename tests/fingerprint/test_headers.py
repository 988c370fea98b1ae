"""Captured headers: which are kept and in what order."""

from __future__ import annotations

from fingerprint import ordered_headers, request_headers

# As CDP reports them: sorted by name, Cookie and Host included.
CAPTURED = [
    (":authority", "x.test"),
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
    ("Content-Length", "2"),
    ("Content-Type", "application/json"),
    ("Cookie", "secret=1"),
    ("Host", "x.test"),
    ("Origin", "https://x.test"),
    ("Referer", "https://x.test/"),
    ("Sec-Fetch-Dest", "empty"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Site", "same-origin"),
    ("User-Agent", "UA"),
    ("sec-ch-ua", '"Chromium";v="156"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("x-b", "2"),
    ("x-a", "1"),
]


def test_fetch_order_puts_page_headers_before_the_user_agent() -> None:
    names = [name for name, _ in ordered_headers(CAPTURED, document=False)]
    assert names == [
        "sec-ch-ua-platform",
        "x-a",
        "x-b",
        "user-agent",
        "sec-ch-ua",
        "content-type",
        "sec-ch-ua-mobile",
        "accept",
        "origin",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "referer",
        "accept-encoding",
        "accept-language",
    ]


def test_document_order_and_nothing_per_request_is_kept() -> None:
    navigation = [
        ("Upgrade-Insecure-Requests", "1"),
        ("Sec-Fetch-User", "?1"),
        ("Cookie", "secret=1"),
        ("Priority", "u=0, i"),
        *[(k, v) for k, v in CAPTURED if k.lower() not in ("origin", "content-type", "x-a")],
    ]
    kept = ordered_headers(navigation, document=True)
    names = [name for name, _ in kept]
    assert names[:6] == [
        "sec-ch-ua",
        "sec-ch-ua-mobile",
        "sec-ch-ua-platform",
        "upgrade-insecure-requests",
        "user-agent",
        "accept",
    ]
    assert names[-3:] == ["accept-language", "priority", "x-b"]
    assert not {"cookie", "host", "content-length", ":authority"} & set(names)
    assert dict(kept)["user-agent"] == "UA"


def test_a_request_puts_its_own_headers_cookie_and_length_where_chromium_does() -> None:
    harvested = ordered_headers(CAPTURED, document=False)
    sent = request_headers(
        harvested,
        [("Content-Type", "text/plain"), ("x-a", None), ("origin", "https://y.test")],
        cookie="a=1; b=2",
        content_length=42,
    )
    # Named as Chromium does on HTTP/1.1 (curl lower-cases them all on HTTP/2 and
    # drops Connection there; on HTTP/1.1 it writes Connection after the others).
    assert sent == [
        ("Connection", "keep-alive"),
        ("Content-Length", "42"),
        ("sec-ch-ua-platform", '"Linux"'),
        ("x-b", "2"),
        ("User-Agent", "UA"),
        ("sec-ch-ua", '"Chromium";v="156"'),
        ("content-type", "text/plain"),
        ("sec-ch-ua-mobile", "?0"),
        ("Accept", "*/*"),
        ("Origin", "https://y.test"),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Sec-Fetch-Dest", "empty"),
        ("Referer", "https://x.test/"),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Cookie", "a=1; b=2"),
    ]


def test_a_request_never_replays_a_captured_cookie_or_host() -> None:
    sent = request_headers([("cookie", "stale=1"), ("host", "x.test"), ("accept", "*/*")])
    assert sent == [("Connection", "keep-alive"), ("Accept", "*/*")]
