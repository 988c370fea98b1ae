"""``harvest status``: one row per credential, never a secret; clear config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from fingerprint import Fingerprint, parse_client_hello
from storage import CredentialStatus, CredentialStore

from ..fingerprint.test_fingerprint import sigalg_grease_hello
from ..storage.conftest import full_credential

HARVESTED = 1_735_689_600.0


def harvest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "credentials.db"

    async def fill() -> None:
        async with CredentialStore.open(path) as store:
            # Harvested at 2025-01-01T00:00:00Z, expired an hour later.
            captured = Fingerprint.from_wire(parse_client_hello(sigalg_grease_hello()))
            await store.put(
                full_credential(
                    "cloudflare",
                    "default",
                    harvested_at=HARVESTED,
                    expires_at=HARVESTED + 3600,
                    fingerprint=captured.to_dict(),
                )
            )
            await store.put(full_credential("flowgpt", "work", expires_at=None))
            await store.mark("flowgpt", "work", CredentialStatus.STALE, "403 interstitial")

    anyio.run(fill)
    return path


def test_status_table_has_one_row_per_credential_and_no_secret(db: Path) -> None:
    done = harvest("status", env={"HARVEST_DB": str(db)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "PROVIDER",
        "PROFILE",
        "STATUS",
        "HARVESTED",
        "EXPIRES",
        "BROWSER",
        "FINGERPRINT",
        "LAST",
        "ERROR",
    ]
    # Harvested through a proxy the config (none) no longer names: said, not shown.
    assert lines[1].split()[:3] == ["cloudflare", "default", "expired*"]
    assert "Chromium 156.0.8078.79  nearest chrome150, differs in grease sigalg" in lines[1]
    # A fingerprint stored in a format this version cannot read is said so.
    assert "unreadable capture, chrome150 alone" in lines[2]
    assert lines[2].split()[:3] == ["flowgpt", "work", "stale*"]
    assert lines[2].endswith("403 interstitial")
    assert lines[3].startswith("* harvested through another proxy than the config names now")
    assert len(lines) == 4
    assert "SECRET" not in done.stdout + done.stderr
    assert "127.0.0.1:8080" not in done.stdout


def test_status_says_nothing_of_a_proxy_the_config_still_names(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "harvest.toml"
    config.write_text(
        '[providers.cloudflare]\nproxy = "http://user:proxy-SECRET-1@127.0.0.1:8080"\n'
    )
    done = harvest("--config", str(config), "status", "--json", env={"HARVEST_DB": str(db)})
    assert done.returncode == 0, done.stderr
    rows = {r["provider"]: r for r in json.loads(done.stdout)}
    assert rows["cloudflare"]["proxy_changed"] is False
    assert "SECRET" not in done.stdout


def test_status_json(db: Path) -> None:
    done = harvest("status", "--json", env={"HARVEST_DB": str(db)})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["provider"], r["profile"], r["status"]) for r in rows] == [
        ("cloudflare", "default", "expired"),
        ("flowgpt", "work", "stale"),
    ]
    assert rows[0]["browser"] == "Chromium 156.0.8078.79"
    assert rows[0]["harvested_at"] == "2025-01-01T00:00:00+00:00"
    assert rows[0]["expires_at"] == "2025-01-01T01:00:00+00:00"
    assert rows[0]["cookies"] == 2
    assert rows[0]["fingerprint"] == "nearest chrome150, differs in grease sigalg"
    assert rows[0]["ja4"] == "t13d1517h2_8daaf6152771_cb7bf5808d99"
    assert rows[1]["ja4"] is None
    assert rows[1]["last_error"] == "403 interstitial"
    assert "SECRET" not in done.stdout


def test_status_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    done = harvest("status", env={"HARVEST_DB": str(db)})
    assert done.returncode == 0
    assert "no credentials yet" in done.stdout
    assert "harvest refresh" in done.stdout
    assert not db.exists()


def test_config_error_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[browser]\nheadles = true\n")
    done = harvest("--config", str(config), "status")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"harvest: {config}, line 2: unknown key 'browser.headles'; "
        "valid keys in [browser]: args, capture_bind, capture_host, cdp, executable, headless"
    )


def test_not_a_database_exits_1_with_advice(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("hello\n" * 100)
    done = harvest("status", env={"HARVEST_DB": str(db)})
    assert done.returncode == 1
    assert "is not a session-harvest database" in done.stderr
    assert "Traceback" not in done.stderr
    assert db.read_text() == "hello\n" * 100


@pytest.mark.parametrize(
    ("database", "said"),
    [
        pytest.param("/dev/null", "it is a character device, not a database file", id="dev-null"),
        pytest.param("{dir}", "it is a directory", id="a directory"),
        pytest.param("{dir}/file/credentials.db", "not a directory", id="a file as parent"),
    ],
)
def test_a_bad_database_path_is_one_line_and_exit_1(
    tmp_path: Path, database: str, said: str
) -> None:
    (tmp_path / "file").write_text("x")
    env = {"HARVEST_DB": database.format(dir=tmp_path), "HARVEST_CONFIG": ""}
    done = harvest("refresh", "cloudflare", "--profile", "p", env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert said in done.stderr


def test_a_misspelt_provider_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "harvest.toml"
    config.write_text("[providers.cloudfare]\nenabled = false\n")
    done = harvest("--config", str(config), "status")
    assert done.returncode == 2
    assert "unknown provider 'cloudfare' in [providers.cloudfare]" in done.stderr
    assert "cloudflare" in done.stderr.split("known providers:")[1]


def test_status_shows_a_profile_resting_after_a_rate_limit(db: Path) -> None:
    async def cool() -> None:
        async with CredentialStore.open(db) as store:
            await store.cool_down("flowgpt", "work", time.time() + 299, "rate limited (429)")
            await store.cool_down("cloudflare", "default", time.time() - 1)  # over already

    anyio.run(cool)
    done = harvest("status", env={"HARVEST_DB": str(db)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split()[:3] == ["flowgpt", "work", "stale*"]
    assert "stale* (rate limited, free in 4m)" in lines[2]
    assert "rate limited" not in lines[1]
    rows = json.loads(harvest("status", "--json", env={"HARVEST_DB": str(db)}).stdout)
    assert rows[0]["cooling_until"] is None
    assert rows[1]["cooling_until"] is not None
