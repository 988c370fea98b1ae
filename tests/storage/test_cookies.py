"""The RFC 6265bis cookie model: which cookies a URL gets, and how a jar takes new ones."""

from __future__ import annotations

import pytest

from storage import Cookie, Credential, merged_cookies

NOW = 1_800_000_000.0

# (cookie, url, expected): one row per rule of RFC 6265 sections 5.1.3, 5.1.4 and 5.4.
CASES = {
    "host-only exact host": (Cookie("a", "1", "example.com"), "https://example.com/", True),
    "host-only not on subdomain": (
        Cookie("a", "1", "example.com"),
        "https://www.example.com/",
        False,
    ),
    "domain cookie on subdomain": (
        Cookie("a", "1", ".example.com"),
        "https://www.example.com/",
        True,
    ),
    "domain cookie on deep subdomain": (
        Cookie("a", "1", ".example.com"),
        "https://a.b.example.com/x",
        True,
    ),
    "domain cookie on the domain itself": (
        Cookie("a", "1", ".example.com"),
        "https://example.com/",
        True,
    ),
    "domain cookie, host_only flag": (
        Cookie("a", "1", "example.com", host_only=False),
        "https://api.example.com/",
        True,
    ),
    "suffix that is not a label boundary": (
        Cookie("a", "1", ".example.com"),
        "https://badexample.com/",
        False,
    ),
    "other host": (Cookie("a", "1", "example.com"), "https://example.org/", False),
    "parent of the cookie domain": (
        Cookie("a", "1", ".api.example.com"),
        "https://example.com/",
        False,
    ),
    "host match is case-insensitive": (
        Cookie("a", "1", "Example.COM"),
        "https://EXAMPLE.com/",
        True,
    ),
    "domain cookie never by suffix on an IP": (
        Cookie("a", "1", ".0.0.1", host_only=False),
        "http://127.0.0.1/",
        False,
    ),
    "IP host-only exact": (Cookie("a", "1", "127.0.0.1"), "http://127.0.0.1:8080/", True),
    "port does not matter": (Cookie("a", "1", "example.com"), "https://example.com:8443/", True),
    "root path matches everything": (
        Cookie("a", "1", "example.com", "/"),
        "https://example.com/api/x",
        True,
    ),
    "path prefix at a slash": (
        Cookie("a", "1", "example.com", "/api"),
        "https://example.com/api/models",
        True,
    ),
    "path equal": (Cookie("a", "1", "example.com", "/api"), "https://example.com/api", True),
    "path prefix not at a boundary": (
        Cookie("a", "1", "example.com", "/api"),
        "https://example.com/apiv2",
        False,
    ),
    "path with trailing slash": (
        Cookie("a", "1", "example.com", "/api/"),
        "https://example.com/api/x",
        True,
    ),
    "trailing-slash path, request without it": (
        Cookie("a", "1", "example.com", "/api/"),
        "https://example.com/api",
        False,
    ),
    "shorter request path": (
        Cookie("a", "1", "example.com", "/api/v1"),
        "https://example.com/api",
        False,
    ),
    "empty request path is /": (Cookie("a", "1", "example.com", "/"), "https://example.com", True),
    "query ignored for path": (
        Cookie("a", "1", "example.com", "/api"),
        "https://example.com/api?x=/y",
        True,
    ),
    "secure on https": (Cookie("a", "1", "example.com", secure=True), "https://example.com/", True),
    "secure not on http": (
        Cookie("a", "1", "example.com", secure=True),
        "http://example.com/",
        False,
    ),
    "secure on wss": (Cookie("a", "1", "example.com", secure=True), "wss://example.com/", True),
    "insecure cookie on http": (Cookie("a", "1", "example.com"), "http://example.com/", True),
    "expired": (Cookie("a", "1", "example.com", expires=NOW - 1), "https://example.com/", False),
    "expires exactly now": (
        Cookie("a", "1", "example.com", expires=NOW),
        "https://example.com/",
        False,
    ),
    "not yet expired": (
        Cookie("a", "1", "example.com", expires=NOW + 1),
        "https://example.com/",
        True,
    ),
    "session cookie": (Cookie("a", "1", "example.com", expires=None), "https://example.com/", True),
    "url without host": (Cookie("a", "1", "example.com"), "/relative/path", False),
    "an unparsable url": (Cookie("a", "1", "example.com"), "https://[example.com/", False),
    "secure on http to this machine": (
        Cookie("a", "1", "localhost", secure=True),
        "http://localhost:8000/",
        True,
    ),
    "secure on http to loopback": (
        Cookie("a", "1", "127.0.0.1", secure=True),
        "http://127.0.0.1:8000/",
        True,
    ),
    "never a public suffix's cookie": (
        Cookie("a", "1", ".github.io"),
        "https://someone.github.io/",
        False,
    ),
    "a public suffix's host-only cookie": (
        Cookie("a", "1", "github.io"),
        "https://github.io/",
        True,
    ),
    "IDN host canonicalized": (
        Cookie("a", "1", "xn--bcher-kva.example"),
        "https://BÜCHER.example/",
        True,
    ),
}


@pytest.mark.parametrize(("cookie", "url", "expected"), CASES.values(), ids=CASES.keys())
def test_matches(cookie: Cookie, url: str, expected: bool) -> None:
    assert cookie.matches(url, now=NOW) is expected


def test_leading_dot_means_domain_cookie() -> None:
    cookie = Cookie("a", "1", ".Example.com")
    assert cookie.domain == "example.com"
    assert cookie.host_only is False
    assert Cookie("a", "1", "example.com").host_only is True
    assert Cookie("a", "1", "..example.com").domain == ".example.com"  # one dot only


def test_the_jar_replaces_keys_by_host_only_and_evicts_the_expired() -> None:
    jar = (
        Cookie("a", "1", "example.com"),
        Cookie("b", "2", "example.com"),
        Cookie("gone", "3", "example.com", expires=NOW - 1),
    )
    merged = merged_cookies(
        jar,
        [
            Cookie("a", "10", "example.com"),  # same key, new value: replaces, goes last
            Cookie("a", "20", ".example.com"),  # a domain cookie: another key
            Cookie("b", "", "example.com", expires=NOW),  # a deletion
        ],
        NOW,
    )
    assert [(c.name, c.value, c.host_only) for c in merged] == [
        ("a", "10", True),
        ("a", "20", False),
    ]


def test_relative_path_attribute_falls_back_to_root() -> None:
    assert Cookie("a", "1", "example.com", "api").path == "/"


def test_cookies_for_picks_exactly_the_url_cookies_longest_path_first() -> None:
    cred = Credential(
        provider="cloudflare",
        cookies=(
            Cookie("root", "r", ".ai.cloudflare.com", "/"),
            Cookie("api", "a", "playground.ai.cloudflare.com", "/api"),
            Cookie("other", "o", "flowgpt.com", "/"),
            Cookie("old", "x", "playground.ai.cloudflare.com", expires=NOW - 10),
            Cookie("tls", "t", "playground.ai.cloudflare.com", secure=True),
        ),
    )
    names = [
        c.name
        for c in cred.cookies_for("https://playground.ai.cloudflare.com/api/inference", now=NOW)
    ]
    assert names == ["api", "root", "tls"]
    names = [c.name for c in cred.cookies_for("http://playground.ai.cloudflare.com/", now=NOW)]
    assert names == ["root"]
    assert cred.cookies_for("https://flowgpt.com/chat", now=NOW)[0].name == "other"
