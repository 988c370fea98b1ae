"""Set-Cookie as a browser stores it (RFC 6265bis section 5), one case per rule, the
RFC's own examples, and arbitrary input that may only ever be refused with
``CookieIgnored``."""

from __future__ import annotations

import calendar
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client._cookies import (
    EARLIEST,
    LIFETIME_LIMIT,
    CookieIgnored,
    cookie_header,
    parse_cookie_date,
    parse_set_cookie,
    received_cookies,
)
from storage import Cookie, Credential, cookies_for, merged_cookies

NOW = 1_800_000_000.0  # 2027-01-15
URL = "https://playground.ai.cloudflare.com/api/inference"
HOST = "playground.ai.cloudflare.com"


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> float:
    return float(calendar.timegm((year, month, day, hour, minute, second)))


# -- 5.1.1: the cookie-date algorithm --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Wed, 21 Oct 2026 07:28:00 GMT", utc(2026, 10, 21, 7, 28, 0), id="IMF-fixdate"
        ),
        pytest.param("Wednesday, 21-Oct-26 07:28:00 GMT", utc(2026, 10, 21, 7, 28), id="RFC 850"),
        pytest.param("Wed Oct 21 07:28:00 2026", utc(2026, 10, 21, 7, 28), id="asctime"),
        pytest.param("21/Oct\\2026 7:28:0", utc(2026, 10, 21, 7, 28), id="any delimiters"),
        pytest.param("07:28:00 2026 OCTOBER 21", utc(2026, 10, 21, 7, 28), id="any token order"),
        pytest.param("21 oct 70 00:00:00", utc(1970, 10, 21, 0, 0), id="70-99 is 19xx"),
        pytest.param("21 oct 69 00:00:00", utc(2069, 10, 21, 0, 0), id="00-69 is 20xx"),
        pytest.param(
            "21 Oct 2026 07:28:00junk", utc(2026, 10, 21, 7, 28), id="time then non-digit"
        ),
        pytest.param("21st Octopus 2026xyz 07:28:00", utc(2026, 10, 21, 7, 28), id="token tails"),
        pytest.param("1 Jan 1601 00:00:00", utc(1601, 1, 1, 0, 0), id="the earliest year"),
        pytest.param("31 Dec 1600 23:59:59", None, id="before 1601"),
        pytest.param("Thu, 12-Aug-9999999999 20:49:07 GMT", None, id="a year of ten digits"),
        pytest.param("21 Oct 2026", None, id="no time"),
        pytest.param("Oct 2026 07:28:00", None, id="no day"),
        pytest.param("32 Oct 2026 07:28:00", None, id="day 32"),
        pytest.param("30 Feb 2024 07:28:00", None, id="no such date"),
        pytest.param("29 Feb 2024 07:28:00", utc(2024, 2, 29, 7, 28), id="a leap day"),
        pytest.param("21 Oct 2026 24:00:00", None, id="hour 24"),
        pytest.param("21 Oct 2026 07:60:00", None, id="minute 60"),
        pytest.param("21 Oct 2026 07:28:60", None, id="no leap seconds"),
        pytest.param("21 Oct 2026 \uff17:28:00", None, id="only ASCII digits"),
        pytest.param("", None, id="empty"),
    ],
)
def test_cookie_dates(text: str, expected: float | None) -> None:
    assert parse_cookie_date(text) == expected


# -- 5.6 and 5.7: one case per rule ----------------------------------------------------


def cookie(name: str, value: str, **fields: object) -> Cookie:
    defaults: dict[str, object] = {"domain": HOST, "path": "/api"}
    return Cookie(name, value, **{**defaults, **fields})  # type: ignore[arg-type]


STORED = [
    pytest.param("a=1", cookie("a", "1"), id="host-only, default path"),
    pytest.param(
        "__cf_bm=xyz; Path=/; Domain=.ai.cloudflare.com; Max-Age=1800; HttpOnly; Secure; "
        "SameSite=None",
        cookie(
            "__cf_bm",
            "xyz",
            domain=".ai.cloudflare.com",
            path="/",
            expires=NOW + 1800,
            secure=True,
            http_only=True,
            same_site="None",
        ),
        id="a domain cookie with every attribute",
    ),
    pytest.param(" a = 1 \t", cookie("a", "1"), id="SP and HTAB trimmed"),
    pytest.param("a=\u00a01\u00a0", cookie("a", "\u00a01\u00a0"), id="NBSP is not whitespace"),
    pytest.param("a=b=c", cookie("a", "b=c"), id="the value holds later equals signs"),
    pytest.param("token", cookie("", "token"), id="no equals sign: a name-less cookie"),
    pytest.param("=token", cookie("", "token"), id="empty name"),
    pytest.param("a=", cookie("a", ""), id="empty value"),
    pytest.param(
        "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
        cookie("a", "1", expires=utc(2026, 10, 21, 7, 28)),
        id="Expires",
    ),
    pytest.param(
        "a=1; Expires=21 Oct 2026 07:28:00",
        cookie("a", "1", expires=utc(2026, 10, 21, 7, 28)),
        id="Expires the mail parser refuses",
    ),
    pytest.param("a=1; Expires=not a date", cookie("a", "1"), id="a bad Expires is ignored"),
    pytest.param(
        "a=1; Expires=Thu, 12-Aug-9999999999 20:49:07 GMT",
        cookie("a", "1"),
        id="an absurd Expires is ignored",
    ),
    pytest.param(
        "a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        cookie("a", "1", expires=NOW + LIFETIME_LIMIT),
        id="Expires cut to 400 days",
    ),
    pytest.param(
        "a=1; Max-Age=60; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
        cookie("a", "1", expires=NOW + 60),
        id="Max-Age wins over Expires",
    ),
    pytest.param(
        "a=1; Max-Age=60; Max-Age=120",
        cookie("a", "1", expires=NOW + 120),
        id="the last Max-Age wins",
    ),
    pytest.param(
        "a=1; Max-Age=99999999999999999999999",
        cookie("a", "1", expires=NOW + LIFETIME_LIMIT),
        id="Max-Age cut to 400 days",
    ),
    pytest.param(
        "a=1; Max-Age=0", cookie("a", "1", expires=EARLIEST), id="Max-Age 0 expires at once"
    ),
    pytest.param("a=1; Max-Age=-5", cookie("a", "1", expires=EARLIEST), id="a negative Max-Age"),
    pytest.param("a=1; Max-Age=+5", cookie("a", "1"), id="Max-Age with a plus sign is ignored"),
    pytest.param("a=1; Max-Age=5s", cookie("a", "1"), id="Max-Age with a non-digit is ignored"),
    pytest.param("a=1; Max-Age=-", cookie("a", "1"), id="a lone minus is ignored"),
    pytest.param("a=1; Max-Age=\u0665", cookie("a", "1"), id="Max-Age takes ASCII digits only"),
    pytest.param(
        "a=1; Domain=ai.cloudflare.com", cookie("a", "1", domain=".ai.cloudflare.com"), id="Domain"
    ),
    pytest.param(
        "a=1; Domain=.AI.Cloudflare.COM",
        cookie("a", "1", domain=".ai.cloudflare.com"),
        id="one leading dot, any case",
    ),
    pytest.param(
        f"a=1; Domain={HOST}", cookie("a", "1", domain="." + HOST), id="Domain equal to the host"
    ),
    pytest.param(
        "a=1; Domain=cloudflare.com; Domain=",
        cookie("a", "1", domain=".cloudflare.com"),
        id="an empty Domain is ignored",
    ),
    pytest.param("a=1; Domain=.", cookie("a", "1"), id="a Domain of one dot: host-only"),
    pytest.param("a=1; Path=/x", cookie("a", "1", path="/x"), id="Path"),
    pytest.param("a=1; Path=x", cookie("a", "1"), id="a Path without a slash: the default"),
    pytest.param("a=1; Path=", cookie("a", "1"), id="an empty Path: the default"),
    pytest.param("a=1; Path=/x; Path=/y", cookie("a", "1", path="/y"), id="the last Path wins"),
    pytest.param(
        "a=1; Path=/" + "x" * 1100, cookie("a", "1"), id="an attribute over 1024 bytes is ignored"
    ),
    pytest.param(
        "a=1; secure; HTTPONLY",
        cookie("a", "1", secure=True, http_only=True),
        id="flags in any case",
    ),
    pytest.param(
        "a=1; Secure=yes", cookie("a", "1", secure=True), id="a flag's value does not matter"
    ),
    pytest.param("a=1; SameSite=lax", cookie("a", "1", same_site="Lax"), id="SameSite"),
    pytest.param(
        "a=1; SameSite=Strict; SameSite=bogus", cookie("a", "1"), id="the last SameSite is Default"
    ),
    pytest.param(
        "a=1; Unknown=2; ; =; Priority=High", cookie("a", "1"), id="unknown attributes ignored"
    ),
    pytest.param("a=1; Secure\t", cookie("a", "1", secure=True), id="HTAB is whitespace"),
    pytest.param(
        "__Secure-a=1; Secure", cookie("__Secure-a", "1", secure=True), id="__Secure- with Secure"
    ),
    pytest.param(
        "__Host-a=1; Secure; Path=/",
        cookie("__Host-a", "1", path="/", secure=True),
        id="__Host- with Secure, host-only, Path=/",
    ),
    pytest.param("a=" + "v" * 4095, cookie("a", "v" * 4095), id="name and value of 4096 bytes"),
]

IGNORED = [
    pytest.param("a=1\x00", "control character", id="NUL"),
    pytest.param("a=1; Path=/\x01", "control character", id="a CTL in an attribute"),
    pytest.param("a\x7f=1", "control character", id="DEL"),
    pytest.param("a=1\r\nb=2", "control character", id="CR LF"),
    pytest.param("=", "both empty", id="name and value empty"),
    pytest.param(" ; Secure", "both empty", id="only whitespace"),
    pytest.param("a=" + "v" * 4096, "over 4096 bytes", id="name and value over 4096 bytes"),
    pytest.param("a=" + "é" * 2048, "over 4096 bytes", id="bytes, not characters"),
    pytest.param("a=1; Domain=example.com", "does not cover", id="another site's domain"),
    pytest.param(
        "a=1; Domain=cloudflare.community", "does not cover", id="a suffix that is no parent"
    ),
    pytest.param(
        "a=1; Domain=..ai.cloudflare.com", "does not cover", id="only one leading dot stripped"
    ),
    pytest.param("a=1; Domain=com", "public suffix", id="a public suffix"),
    pytest.param("a=1; Domain=.com", "public suffix", id="a public suffix with its dot"),
    pytest.param("a=1; Domain=ai.cloudflare.cöm", "not ASCII", id="a Domain that is not ASCII"),
    pytest.param(
        "a=1; SameSite=None", "SameSite=None needs Secure", id="SameSite=None without Secure"
    ),
    pytest.param("__Secure-a=1", "__Secure-", id="__Secure- without Secure"),
    pytest.param("__SECURE-a=1", "__Secure-", id="prefixes match in any case"),
    pytest.param("__Host-a=1; Secure", "__Host-", id="__Host- without Path"),
    pytest.param("__Host-a=1; Secure; Path=/x", "__Host-", id="__Host- with another Path"),
    pytest.param(
        "__Host-a=1; Secure; Path=/; Domain=ai.cloudflare.com", "__Host-", id="__Host- with Domain"
    ),
    pytest.param("__Host-a", "prefix", id="a name-less value with a prefix"),
]


@pytest.mark.parametrize(("header", "expected"), STORED)
def test_stored(header: str, expected: Cookie) -> None:
    assert parse_set_cookie(header, URL, now=NOW).to_dict() == expected.to_dict()


@pytest.mark.parametrize(("header", "rule"), IGNORED)
def test_ignored(header: str, rule: str) -> None:
    with pytest.raises(CookieIgnored, match=rule):
        parse_set_cookie(header, URL, now=NOW)


def test_a_public_suffix_domain_equal_to_the_host_is_host_only() -> None:
    stored = parse_set_cookie("a=1; Domain=github.io", "https://github.io/", now=NOW)
    assert (stored.domain, stored.host_only) == ("github.io", True)
    with pytest.raises(CookieIgnored, match="public suffix"):
        parse_set_cookie("a=1; Domain=github.io", "https://someone.github.io/", now=NOW)


def test_secure_cookies_need_a_secure_connection() -> None:
    with pytest.raises(CookieIgnored, match="Secure but came over http"):
        parse_set_cookie("a=1; Secure", "http://example.com/", now=NOW)
    # This machine is a potentially trustworthy origin.
    assert parse_set_cookie("a=1; Secure", "http://localhost:8000/", now=NOW).secure
    assert parse_set_cookie("a=1; Secure", "http://127.0.0.1:8000/", now=NOW).secure


def test_a_plain_connection_may_not_overlay_a_secure_cookie() -> None:
    jar = (Cookie("a", "secret", domain="example.com", path="/login", secure=True),)
    for path in ("/login", "/login/en"):
        with pytest.raises(CookieIgnored, match="overlay a Secure cookie"):
            parse_set_cookie(f"a=evil; Path={path}", "http://example.com/", now=NOW, jar=jar)
    for path in ("/", "/foo"):  # the RFC's own note: these may be set
        parse_set_cookie(f"a=ok; Path={path}", "http://example.com/", now=NOW, jar=jar)
    parse_set_cookie("a=ok; Path=/login", "https://example.com/", now=NOW, jar=jar)


def test_an_odd_url_is_refused_not_raised() -> None:
    for url in ("https://[::1/", "file:///etc/passwd", "not a url"):
        with pytest.raises(CookieIgnored, match="no host"):
            parse_set_cookie("a=1", url, now=NOW)


# -- the RFC's examples (sections 3.1 and 5.5) -----------------------------------------


def browse(jar: tuple[Cookie, ...], url: str, *headers: str) -> tuple[Cookie, ...]:
    return merged_cookies(jar, received_cookies(headers, url, now=NOW, jar=jar), NOW)


def test_the_rfcs_examples() -> None:
    url = "https://www.site.example/"
    jar = browse((), url, "SID=31d4d96e407aad42")
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "SID=31d4d96e407aad42"
    jar = browse((), url, "SID=31d4d96e407aad42; Path=/; Domain=site.example")
    assert cookie_header(cookies_for(jar, "https://other.site.example/x", now=NOW)) == (
        "SID=31d4d96e407aad42"
    )
    jar = browse(
        (),
        url,
        "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly",
        "lang=en-US; Path=/; Domain=site.example",
    )
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "SID=31d4d96e407aad42; lang=en-US"
    jar = browse(jar, url, "lang=en-US; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Domain=site.example")
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "SID=31d4d96e407aad42"
    jar = browse(jar, url, "lang=; Expires=Sun, 06 Nov 1994 08:49:37 GMT")
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "SID=31d4d96e407aad42"


@pytest.mark.parametrize(
    "header",
    [
        "__Secure-SID=12345; Domain=site.example",
        "__secure-SID=12345; Domain=site.example",
        "__SECURE-SID=12345; Domain=site.example",
        "__Host-SID=12345",
        "__host-SID=12345; Secure",
        "__host-SID=12345; Domain=site.example",
        "__HOST-SID=12345; Domain=site.example; Path=/",
        "__Host-SID=12345; Secure; Domain=site.example; Path=/",
        "__host-SID=12345; Secure; Domain=site.example; Path=/",
        "__HOST-SID=12345; Secure; Domain=site.example; Path=/",
    ],
)
def test_the_rfcs_rejected_prefixes(header: str) -> None:
    with pytest.raises(CookieIgnored):
        parse_set_cookie(header, "https://www.site.example/", now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "__Secure-SID=12345; Domain=site.example; Secure",
        "__secure-SID=12345; Domain=site.example; Secure",
        "__SECURE-SID=12345; Domain=site.example; Secure",
        "__Host-SID=12345; Secure; Path=/",
        "__host-SID=12345; Secure; Path=/",
        "__HOST-SID=12345; Secure; Path=/",
    ],
)
def test_the_rfcs_accepted_prefixes(header: str) -> None:
    parse_set_cookie(header, "https://www.site.example/", now=NOW)


# -- the jar: replacement, deletion, retrieval order, serialization --------------------


def test_replacement_and_deletion_order_the_jar_as_chromium_does() -> None:
    url = "https://example.com/"
    jar = browse((), url, "a=1", "b=2", "c=3")
    jar = browse(jar, url, "c=3", "b=; Max-Age=0", "d=4")  # the same value keeps its place
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "a=1; c=3; d=4"
    jar = browse(jar, url, "a=10")  # a new value is a newer cookie
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "c=3; d=4; a=10"
    # A domain cookie of the same name is another cookie: the host-only flag counts.
    jar = browse(jar, url, "a=20; Domain=example.com")
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "c=3; d=4; a=10; a=20"


def test_longer_paths_first_then_creation_order() -> None:
    url = "https://example.com/api/v1/chat"
    jar = browse((), url, "z=1; Path=/", "y=2; Path=/api/v1", "x=3; Path=/api", "w=4; Path=/")
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "y=2; x=3; z=1; w=4"


def test_a_name_less_cookie_is_sent_as_its_value() -> None:
    url = "https://example.com/"
    jar = browse((), url, "token", "a=1", "=other")  # "=other" replaces "token"
    assert cookie_header(cookies_for(jar, url, now=NOW)) == "a=1; other"


def test_a_cookie_of_a_public_suffix_is_never_sent() -> None:
    # The list may have changed since the cookie was stored (section 5.8.3).
    credential = Credential("x", cookies=(Cookie("a", "1", domain=".github.io"),))
    assert credential.cookies_for("https://someone.github.io/", now=NOW) == []


def test_write_back_skips_what_a_browser_ignores_and_logs_no_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = ["a=1", "b=secretvalue; Domain=com", "c=secret\x01", "d=4"]
    with caplog.at_level(logging.WARNING, "client"):
        kept = received_cookies(headers, URL, now=NOW)
    assert [c.name for c in kept] == ["a", "d"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "public suffix" in logged
    assert "control character" in logged
    assert "secret" not in logged


# -- anything at all: a cookie or CookieIgnored, never another error -------------------

# Pieces of real headers, odd characters and the attribute names, in any order.
ODD = ("\x00", "\x01", "\x7f", "é", "\xa0", "\ufeff")
WORDS = ("Domain", "Path", "Expires", "Max-Age", "Secure", "SameSite", "__Host-", "com")
VALUES = ("9999999999", "Thu, 01 Jan 2100 00:00:00 GMT", "-1", "0", "None")
HEADER_TEXT = st.lists(
    st.sampled_from([*'ab=; \t.-/:,"\\_', *ODD, *WORDS, *VALUES]), max_size=40
).map("".join)


@given(
    header=st.one_of(st.text(max_size=300), HEADER_TEXT),
    url=st.sampled_from([URL, "http://example.com/a/b", "https://[::1]/", "https://[x/", "x"]),
)
def test_any_header_is_a_cookie_or_cookie_ignored(header: str, url: str) -> None:
    try:
        stored = parse_set_cookie(header, url, now=NOW)
    except CookieIgnored:
        return  # the one refusal allowed
    assert stored.name or stored.value
    assert stored.path.startswith("/")
    assert stored.expires is None or stored.expires <= NOW + LIFETIME_LIMIT


@given(st.text(max_size=80))
def test_any_date_text_is_a_date_or_none(text: str) -> None:
    parsed = parse_cookie_date(text)
    assert parsed is None or parsed >= utc(1601, 1, 1, 0, 0)
