"""Harvest recipes, the provider lookups and the impersonation target."""

from __future__ import annotations

import base64
import itertools
import json
import re

import pytest
from curl_cffi.requests import BrowserType

from client import HarvestRecipe, Ready, Token, UnknownProvider, impersonate_target
from client._transport import chrome_targets
from client.providers import recipe_for
from storage import Cookie


def test_origins_default_to_the_start_page_origin() -> None:
    recipe = HarvestRecipe(start_url="https://playground.ai.cloudflare.com/chat?x=1")
    assert recipe.origins == ("https://playground.ai.cloudflare.com/",)


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("lifetime", "cookie", "token", "expected"),
    [
        (None, None, None, None),
        (600, None, None, 1600),
        (None, 1300, None, 1300),
        (600, 1300, None, 1300),
        (600, 9e9, None, 1600),
        (600, None, _jwt({"exp": 1200}), 1200),
        (600, 1100, _jwt({"exp": 1200}), 1100),
        (600, None, _jwt({"exp": 9e9}), 1600),
        (600, None, _jwt({"sub": "no exp"}), 1600),
        (600, None, "not-a-jwt", 1600),
        (600, None, "a.!!!.c", 1600),
        (600, None, _jwt({"exp": True}), 1600),
    ],
)
def test_expiry_is_the_earliest_of_lifetime_cookie_and_token(
    lifetime: float | None, cookie: float | None, token: str | None, expected: float | None
) -> None:
    recipe = HarvestRecipe(
        start_url="https://x.test/",
        lifetime=lifetime,
        expiry_cookie="clearance",
        expiry_token="jwt",
    )
    cookies = [
        Cookie("other", "v", domain="x.test", expires=1000.5),  # not the expiry cookie
        Cookie("clearance", "v", domain="x.test", expires=cookie),
    ]
    tokens = {"jwt": token, "other": _jwt({"exp": 1001})} if token else {}
    assert recipe.expires_at(1000, cookies, tokens) == expected


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: HarvestRecipe(start_url="ftp://x.test/"), "must be an http"),
        (lambda: HarvestRecipe(start_url="https://x.test/", capture="("), "missing"),
        (lambda: HarvestRecipe(start_url="https://x.test/", timeout=0), "positive"),
        (lambda: Token("t"), "exactly one of"),
        (lambda: Token("t", regex="a", js="b"), "exactly one of"),
        (lambda: Ready(request="["), "unterminated"),
    ],
)
def test_bad_recipes_fail_when_declared(make: object, message: str) -> None:
    with pytest.raises((ValueError, re.error), match=message):
        make()  # type: ignore[operator]


def test_unknown_provider_lists_the_valid_ones() -> None:
    known = {"b": HarvestRecipe(start_url="https://b.test/"), "a": HarvestRecipe("https://a.test/")}
    with pytest.raises(UnknownProvider, match="unknown provider 'c'; valid providers: a, b"):
        recipe_for("c", known)
    with pytest.raises(UnknownProvider, match="none are registered"):
        recipe_for("c", {})


def test_impersonation_picks_the_newest_chrome_not_newer_than_the_browser() -> None:
    plain = sorted(
        int(m.group(1)) for b in BrowserType if (m := re.fullmatch(r"chrome(\d+)", b.value))
    )
    assert [n for n, _ in chrome_targets()] == plain
    newest = plain[-1]
    assert impersonate_target(newest + 6) == f"chrome{newest}"
    assert impersonate_target(newest) == f"chrome{newest}"
    for older, newer in itertools.pairwise(plain):
        assert impersonate_target(older) == f"chrome{older}"
        assert impersonate_target(newer - 1) == f"chrome{older}"
    assert impersonate_target(1) == f"chrome{plain[0]}"  # older than all: the oldest
