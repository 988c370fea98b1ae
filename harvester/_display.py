"""A virtual display for a headful browser on a machine without one: Xvfb.

``[browser] headless = false`` with no ``DISPLAY`` gives each browser its own Xvfb on a
free display (``-displayfd``: the server picks a free number and says which, so two
harvesters never race for ``:99``). It dies with the harvester, even by SIGKILL: the
kernel sends it SIGTERM (``PR_SET_PDEATHSIG``), on which Xvfb removes its socket
(``/tmp/.X11-unix/XN``), so no stale display is left behind either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import anyio

from ._errors import BrowserFailed, BrowserNotFound
from ._process import die_with_parent

__all__ = ["OWNER_VARIABLE", "SCREEN", "VirtualDisplay"]

# In each Xvfb's environment: the browser profile it serves (``ps e`` shows whose it is).
OWNER_VARIABLE = "SESSION_HARVEST_PROFILE"

# The screen a headful browser sees: a common laptop size, as the window size is.
SCREEN = (1920, 1080)
_DEPTH = 24


class VirtualDisplay:
    """One running Xvfb; ``name`` is its ``DISPLAY`` (``":N"``)."""

    def __init__(self, process: asyncio.subprocess.Process, number: int) -> None:
        self.process = process
        self.name = f":{number}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, profile: Path, *, within: float = 15.0) -> VirtualDisplay:
        """Start Xvfb for the browser of ``profile`` (its messages go to ``xvfb.log``
        there); ``BrowserNotFound`` when it is not installed, ``BrowserFailed`` when it
        does not come up."""
        log = profile / "xvfb.log"
        executable = await anyio.to_thread.run_sync(shutil.which, "Xvfb")
        if executable is None:
            raise BrowserNotFound(
                "[browser] headless = false needs a display and none is set (DISPLAY): "
                "install Xvfb (Debian/Ubuntu: `apt-get install xvfb`, or `make install` as "
                "root) and the harvester starts one per browser"
            )
        ready, told = os.pipe()
        width, height = SCREEN
        parent = os.getpid()
        try:
            out = await anyio.to_thread.run_sync(log.open, "ab")
            with out:
                process = await asyncio.create_subprocess_exec(
                    executable,
                    "-displayfd",
                    str(told),
                    "-screen",
                    "0",
                    f"{width}x{height}x{_DEPTH}",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    pass_fds=(told,),
                    start_new_session=True,
                    preexec_fn=lambda: die_with_parent(parent, signal.SIGTERM),
                    env={**os.environ, OWNER_VARIABLE: str(profile)},
                )
        except OSError as exc:
            os.close(ready)
            raise BrowserFailed(f"could not run {executable}: {exc.strerror}") from exc
        finally:
            os.close(told)  # ours: the read below ends when Xvfb writes or exits
        display = cls(process, 0)
        try:
            with anyio.fail_after(within):
                said = await anyio.to_thread.run_sync(_read_all, ready, abandon_on_cancel=True)
            if not said.strip().isdigit():
                tail = await anyio.to_thread.run_sync(_tail, log)
                raise BrowserFailed(
                    f"Xvfb exited at start{tail}"
                    if not said
                    else f"Xvfb said {said[:40]!r} instead of its display number"
                )
            display.name = f":{int(said)}"
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await display.close()
            if isinstance(exc, TimeoutError):
                tail = await anyio.to_thread.run_sync(_tail, log)
                raise BrowserFailed(f"Xvfb did not start within {within:g}s{tail}") from exc
            raise
        return display

    async def close(self) -> None:
        """Stop Xvfb (SIGTERM, so it removes its socket; SIGKILL if it lingers)."""
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                with anyio.move_on_after(5):
                    await self.process.wait()
            if self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()


def _read_all(fd: int) -> str:
    """What Xvfb writes to ``fd`` up to its newline (or its exit), then close ``fd``."""
    said = b""
    try:
        while not said.endswith(b"\n") and (chunk := os.read(fd, 64)):
            said += chunk
    finally:
        os.close(fd)
    return said.decode("ascii", "replace")


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()[-3:]
    except OSError:
        return ""
    return (": " + " / ".join(lines)) if lines else ""
