"""The Chromium that `make install` provides runs headless on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

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


LAUNCH = """
import asyncio, sys
from pathlib import Path
from harvester._browser import Chromium
async def main():
    browser = await Chromium.launch(Path(sys.argv[1]))
    await browser.close()
    print("launched", browser.info.version)
asyncio.run(main())
"""


@pytest.mark.parametrize("kind", ["a long TMPDIR", "a missing TMPDIR"])
def test_chromium_starts_whatever_tmpdir_says(chromium: str, tmp_path: Path, kind: str) -> None:
    if kind == "a long TMPDIR":
        temp = tmp_path / ("t" * 60) / ("u" * 60)
        temp.mkdir(parents=True)
    else:
        temp = tmp_path / "gone"
    env = {**os.environ, "TMPDIR": str(temp)}
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, chromium],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("launched ")
    if temp.exists():
        assert not list(temp.iterdir())  # nothing left behind in it
