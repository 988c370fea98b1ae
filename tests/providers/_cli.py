"""Running the ``harvest`` command line against the rig, for the provider tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio

from ..emulators.rig import Rig

ROOT = Path(__file__).resolve().parents[2]


def cli_env(
    rig: Rig, directory: Path, chromium: str, *, headless: bool = True, **tables: dict[str, Any]
) -> dict[str, str]:
    """The environment of a ``harvest`` run on ``rig`` with its config and database in
    ``directory`` (``tables``: extra config tables; headful: with no display, as on a
    server)."""
    config_file = directory / "harvest.toml"
    config_file.write_text(
        rig.toml(directory / "credentials.db", chromium, headless=headless, **tables)
    )
    hidden = ("HARVEST_CONFIG", "HARVEST_DB") + (() if headless else ("DISPLAY", "WAYLAND_DISPLAY"))
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env["HARVEST_CONFIG"] = str(config_file)
    return env


async def run_cli(args: list[str], env: dict[str, str], within: float = 90) -> tuple[int, str, str]:
    with anyio.fail_after(within):
        done = await anyio.run_process(
            [sys.executable, "-m", "harvester", *args], env=env, cwd=ROOT, check=False
        )
    return done.returncode, done.stdout.decode(), done.stderr.decode()
