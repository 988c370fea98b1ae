"""The Chromium that `make install` provides runs headless on this machine."""

from __future__ import annotations

import subprocess
import tempfile

import pytest

pytestmark = pytest.mark.browser


def test_chromium_renders_a_page_headless(chromium: str) -> None:
    # The flags a closed network needs (see the harvester); a fresh profile directory.
    with tempfile.TemporaryDirectory(prefix="chromium-test-") as profile:
        done = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                f"--user-data-dir={profile}",
                "--dump-dom",
                "data:text/html,<title>t</title><p id=x>rendered%20here</p>",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '<p id="x">rendered here</p>' in done.stdout


def test_chromium_reports_its_version(chromium: str) -> None:
    done = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert done.stdout.startswith("Chromium ")
    major = int(done.stdout.split()[1].split(".")[0])
    assert major >= 120
