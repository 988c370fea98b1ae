"""Storage fixtures: a real database (an SQLite file in a temporary directory, or a
new database on the session's PostgreSQL cluster), a fake clock.

``store`` and ``database`` run each test once per engine: the same suite proves both
have the same semantics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Cookie, Credential, CredentialStatus, CredentialStore

START = 1_800_000_000.0


class FakeClock:
    """The only thing these tests fake: time."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "credentials.db"


@pytest.fixture
async def store(database: str | Path, clock: FakeClock) -> AsyncIterator[CredentialStore]:
    async with CredentialStore.open(database, clock=clock) as s:
        yield s


def full_credential(
    provider: str = "cloudflare", profile: str = "default", **changes: object
) -> Credential:
    """A credential with every field set to something distinctive."""
    fields: dict[str, object] = dict(
        provider=provider,
        profile=profile,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0.0.0 Safari/537.36",
        browser_name="Chromium",
        browser_version="156.0.8078.79",
        fingerprint={"ja4": "t13d1517h2_8daaf6152771_cb7bf5808d99", "akamai": "1:65536|0|m,a,s,p"},
        impersonate="chrome150",
        headers=(
            ("sec-ch-ua", '"Chromium";v="156"'),
            ("user-agent", "Mozilla/5.0"),
            ("accept-language", "en-US,en;q=0.9"),
            ("x-secret-header", "hdr-SECRET-1"),
        ),
        cookies=(
            Cookie(
                "cf_clearance",
                "cookie-SECRET-1",
                ".ai.cloudflare.com",
                "/",
                START + 3600,
                secure=True,
                http_only=True,
                same_site="None",
            ),
            Cookie(
                "__cf_bm",
                "cookie-SECRET-2",
                "playground.ai.cloudflare.com",
                "/api",
                None,
                secure=False,
                http_only=False,
                same_site="Lax",
            ),
        ),
        tokens={"zerogpu": "token-SECRET-1", "uuid": "token-SECRET-2"},
        proxy="http://user:proxy-SECRET-1@127.0.0.1:8080",
        harvested_at=START,
        expires_at=START + 1800,
        status=CredentialStatus.FRESH,
        last_error=None,
    )
    fields.update(changes)
    return Credential(**fields)  # type: ignore[arg-type]
