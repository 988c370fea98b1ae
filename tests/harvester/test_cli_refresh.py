"""``harvest refresh`` and ``scripts/refresh_credentials.py`` as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ._daemon_rig import ROOT, environment, write_config
from ._site import Site

pytestmark = pytest.mark.browser


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.harvester._cli_main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_refresh_prints_one_line_per_credential_and_fails_if_any_failed(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    config = write_config(tmp_path / "c.toml", tmp_path / "c.db", chromium)
    env = environment(site.base, TEST_NEVER_TIMEOUT="1")
    done = run(["--config", str(config), "refresh", "site", "never"], env)
    assert done.returncode == 1, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert len(lines) == 2
    failed, ok = lines
    assert failed.startswith("failed  never/default")
    assert "was not ready after 1s" in failed
    assert ok.startswith("ok      site/default")
    assert ok.endswith("expires in 29m")

    status = run(["--config", str(config), "status", "--json"], env)
    (row,) = json.loads(status.stdout)
    assert row["provider"] == "site"
    assert row["status"] == "fresh"
    assert row["cookies"] == 2
    for cookie_value in site.state.sids:
        assert cookie_value not in status.stdout


def test_refresh_of_one_profile_exits_zero(site: Site, tmp_path: Path, chromium: str) -> None:
    config = write_config(tmp_path / "c.toml", tmp_path / "c.db", chromium)
    done = run(
        ["--config", str(config), "refresh", "site", "--profile", "p2"], environment(site.base)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok      site/p2")


def test_refresh_of_an_unknown_provider_is_a_usage_error(
    site: Site, tmp_path: Path, chromium: str
) -> None:
    config = write_config(tmp_path / "c.toml", tmp_path / "c.db", chromium)
    done = run(["--config", str(config), "refresh", "nope"], environment(site.base))
    assert done.returncode == 2
    assert (
        "unknown provider 'nope'; valid providers: "
        "cloudflare, flowgpt, freenetfly, g4f_space, never, site" in done.stderr
    )
    assert not (tmp_path / "c.db").exists()


def test_the_cron_script_documents_its_exit_codes_and_forwards() -> None:
    script = ROOT / "scripts" / "refresh_credentials.py"
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0
    for code in ("0  every credential was harvested", "1  at least one", "2  a usage"):
        assert code in shown.stdout
    unknown = subprocess.run(
        [sys.executable, str(script), "nope"], capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2
    assert "unknown provider 'nope'" in unknown.stderr
