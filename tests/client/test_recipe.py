"""Harvest recipes, the provider registry and the impersonation target."""

from __future__ import annotations

import itertools
import re

import pytest
from curl_cffi.requests import BrowserType

from client import HarvestRecipe, Ready, Token, UnknownProvider, impersonate_target, recipe_for
from client._transport import chrome_targets


def test_origins_default_to_the_start_page_origin() -> None:
    recipe = HarvestRecipe(start_url="https://playground.ai.cloudflare.com/chat?x=1")
    assert recipe.origins == ("https://playground.ai.cloudflare.com/",)


@pytest.mark.parametrize(
    ("lifetime", "cookie", "expected"),
    [
        (None, None, None),
        (600, None, 1600),
        (None, 1300, 1300),
        (600, 1300, 1300),
        (600, 9e9, 1600),
    ],
)
def test_expiry_is_the_earlier_of_lifetime_and_cookie(
    lifetime: float | None, cookie: float | None, expected: float | None
) -> None:
    recipe = HarvestRecipe(start_url="https://x.test/", lifetime=lifetime)
    assert recipe.expires_at(1000, cookie) == expected


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
