"""Set-Cookie as a browser stores it, and which cookies a request carries."""

from __future__ import annotations

import pytest

from client._cookies import cookie_header, parse_set_cookie
from storage import Cookie, Credential

NOW = 1_800_000_000.0
URL = "https://playground.ai.cloudflare.com/api/inference"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            "a=1",
            Cookie("a", "1", domain="playground.ai.cloudflare.com", path="/api"),
            id="host-only, default path",
        ),
        pytest.param(
            "__cf_bm=xyz; Path=/; Domain=.ai.cloudflare.com; Max-Age=1800; HttpOnly; Secure; "
            "SameSite=None",
            Cookie(
                "__cf_bm",
                "xyz",
                domain=".ai.cloudflare.com",
                path="/",
                expires=NOW + 1800,
                secure=True,
                http_only=True,
                same_site="None",
            ),
            id="domain cookie with every attribute",
        ),
        pytest.param(
            "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60; path=/x",
            Cookie("b", "2", domain="playground.ai.cloudflare.com", path="/x", expires=NOW + 60),
            id="Max-Age wins over Expires",
        ),
        pytest.param(
            "c=3; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
            Cookie(
                "c", "3", domain="playground.ai.cloudflare.com", path="/api", expires=1792567680.0
            ),
            id="Expires",
        ),
        pytest.param(
            "d=4; Expires=not a date; SameSite=lax",
            Cookie("d", "4", domain="playground.ai.cloudflare.com", path="/api", same_site="Lax"),
            id="bad Expires ignored",
        ),
        pytest.param(
            "e=; Max-Age=0",
            Cookie("e", "", domain="playground.ai.cloudflare.com", path="/api", expires=NOW),
            id="deletion",
        ),
        pytest.param("f=6; Domain=example.com", None, id="another site's domain refused"),
        pytest.param("f=6; Domain=cloudflare.community", None, id="a suffix that is no parent"),
        pytest.param("no-equals-sign", None, id="no name=value"),
        pytest.param("=value", None, id="empty name"),
    ],
)
def test_parse_set_cookie(header: str, expected: Cookie | None) -> None:
    cookie = parse_set_cookie(header, URL, now=NOW)
    if expected is None:
        assert cookie is None
    else:
        assert cookie is not None
        assert cookie.to_dict() == expected.to_dict()


def test_a_deletion_is_already_expired() -> None:
    cookie = parse_set_cookie("e=; Max-Age=0", URL, now=NOW)
    assert cookie is not None
    assert cookie.is_expired(NOW)


JAR = (
    Cookie("host", "1", domain="playground.ai.cloudflare.com"),
    Cookie("parent", "2", domain=".ai.cloudflare.com"),
    Cookie("other_host", "3", domain="dash.cloudflare.com"),
    Cookie("other_site", "4", domain=".flowgpt.com"),
    Cookie("api_path", "5", domain="playground.ai.cloudflare.com", path="/api"),
    Cookie("apix_path", "6", domain="playground.ai.cloudflare.com", path="/apix"),
    Cookie("gone", "7", domain="playground.ai.cloudflare.com", expires=NOW - 1),
    Cookie("secure", "8", domain="playground.ai.cloudflare.com", secure=True),
)


@pytest.mark.parametrize(
    ("url", "names"),
    [
        (URL, ["api_path", "host", "parent", "secure"]),
        ("https://playground.ai.cloudflare.com/", ["host", "parent", "secure"]),
        ("http://playground.ai.cloudflare.com/api", ["api_path", "host", "parent"]),
        ("https://x.ai.cloudflare.com/api", ["parent"]),
        ("https://flowgpt.com/chat", ["other_site"]),
        ("https://evil-playground.ai.cloudflare.com.example/", []),
    ],
)
def test_a_request_carries_only_the_cookies_of_its_url(url: str, names: list[str]) -> None:
    credential = Credential("cloudflare", cookies=JAR)
    chosen = credential.cookies_for(url, now=NOW)
    assert sorted(c.name for c in chosen) == names
    # Longest path first, as browsers order them.
    assert cookie_header(chosen).startswith("api_path=5") == ("api_path" in names)
