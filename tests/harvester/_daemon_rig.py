"""Run ``harvest`` (with the test site's providers) as a real subprocess."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, database: Path, chromium: str, body: str = "") -> Path:
    path.write_text(
        f'database = "{database}"\n[browser]\nexecutable = "{chromium}"\n{body}',
        encoding="utf-8",
    )
    return path


def environment(site_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARVEST_CONFIG", "HARVEST_DB")}
    env["TEST_SITE_URL"] = site_url
    env.update(extra)
    return env


async def start(args: list[str], env: dict[str, str], logs: Path) -> tuple[Process, Path, Path]:
    """Start the CLI; stdout and stderr go to files (a full pipe would block it)."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = await anyio.open_process(
            [sys.executable, "-m", "tests.harvester._cli_main", *args],
            stdout=stdout,
            stderr=stderr,
            cwd=ROOT,
            env=env,
        )
    return process, out, err


async def wait_exit(process: Process, within: float = 60) -> int:
    """The exit code; kills the process if it takes longer than ``within`` (a hang)."""
    try:
        with anyio.fail_after(within):
            return await process.wait()
    except TimeoutError:
        process.send_signal(signal.SIGKILL)
        await process.wait()
        raise


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 60, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    try:
        with anyio.fail_after(within):
            while True:
                result = await check()
                if result:
                    return result
                await anyio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"no {what} within {within:g}s") from None
