"""``[browser] headless = false`` on a machine with no display: each browser gets an
Xvfb of its own, which goes when the browser goes, even when the harvester is SIGKILLed.
A page sees the same screen, pointer, WebGL and ``navigator.webdriver`` either way."""

from __future__ import annotations

import dataclasses
import json
import signal
import tempfile
from pathlib import Path

import anyio
import pytest

from client import Config
from harvester import Harvester
from harvester._browser import PROFILE_PREFIX, Chromium
from harvester._errors import BrowserNotFound

from ._daemon_rig import environment, eventually, start, wait_exit, write_config
from ._procs import chromium_processes, xvfb_processes
from ._site import Site
from .test_daemon import ONLY_NEVER, daemon_chromium

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

# What a site's script can read of the display and the automation.
PROBE = """JSON.stringify({
  webdriver: navigator.webdriver,
  window: [innerWidth, innerHeight, outerWidth, outerHeight],
  screen: [screen.width, screen.height, screen.availWidth, screen.availHeight,
           screen.colorDepth, devicePixelRatio],
  webgl: (() => {
    const gl = document.createElement("canvas").getContext("webgl");
    const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null;
  })(),
  pointer: ["(hover: hover)", "(any-hover: hover)", "(pointer: fine)", "(any-pointer: fine)",
            "(pointer: none)"].map(q => matchMedia(q).matches),
})"""


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def x_socket(display: str) -> Path:
    return Path(f"/tmp/.X11-unix/X{display.lstrip(':')}")


def x_sockets() -> set[str]:
    return {p.name for p in Path("/tmp/.X11-unix").glob("X*")}


async def test_headful_with_no_display_harvests_under_an_xvfb_of_its_own(
    site: Site, config: Config, no_display: None
) -> None:
    config = dataclasses.replace(
        config, browser=dataclasses.replace(config.browser, headless=False)
    )
    async with Harvester(config, recipes=site.recipes()) as harvester:
        credential = await harvester.refresh("site")
        pool = harvester._pool
        assert pool is not None
        assert pool._current is not None
        browser = pool._current
        display = browser.display
        assert display is not None
        assert list(xvfb_processes(str(browser.profile))) == [display.pid]
        assert await anyio.to_thread.run_sync(x_socket(display.name).exists)
    assert "Headless" not in credential.user_agent
    assert credential.cookies
    # Gone with its browser, socket and all.
    assert not list(xvfb_processes(str(browser.profile)))
    assert not list(chromium_processes(browser.profile))
    assert not await anyio.to_thread.run_sync(x_socket(display.name).exists)


async def test_sigkill_of_a_headful_daemon_leaves_no_xvfb_and_no_chromium(
    site: Site, tmp_path: Path, chromium: str, no_display: None
) -> None:
    config = write_config(
        tmp_path / "c.toml", tmp_path / "c.db", chromium, "headless = false\n" + ONLY_NEVER
    )
    env = environment(site.base, TEST_NEVER_TIMEOUT="60")
    before = await anyio.to_thread.run_sync(x_sockets)
    daemon, _out, _err = await start(["--config", str(config), "daemon"], env, tmp_path / "d")
    mine = f"{tempfile.gettempdir()}/{PROFILE_PREFIX}{daemon.pid}-"
    try:
        await eventually(
            lambda: _async(len(daemon_chromium(daemon.pid)) >= 4 and list(xvfb_processes(mine))),
            what="a headful browser at work on its Xvfb",
        )
        (xvfb,) = xvfb_processes(mine)
        display = Path(f"/proc/{xvfb}/cmdline").read_bytes().split(b"\0")
    finally:
        daemon.send_signal(signal.SIGKILL)
        await wait_exit(daemon)
    await eventually(
        lambda: _async(not daemon_chromium(daemon.pid) and not list(xvfb_processes(mine))),
        within=15,
        what="no Chromium and no Xvfb",
    )
    assert b"-displayfd" in display  # the one we started, not some other X server
    # SIGTERMed by the kernel as its parent died, it removed its socket.
    assert await anyio.to_thread.run_sync(x_sockets) <= before


async def test_a_page_sees_the_same_screen_pointer_and_webgl_headless_and_headful(
    chromium: str, no_display: None
) -> None:
    seen = {}
    for headless in (True, False):
        browser = await Chromium.launch(Path(chromium), headless=headless)
        try:
            page = await browser.new_page()
            seen[headless] = json.loads(await page.evaluate(PROBE))
        finally:
            await browser.close()
    assert seen[True] == seen[False]
    probe = seen[True]
    assert probe["webdriver"] is False
    assert probe["screen"][:2] == [1920, 1080]  # not headless's own 800x600
    assert probe["window"][2:] == [1366, 768]  # the window fits on that screen
    assert "SwiftShader" in probe["webgl"]  # WebGL there headful too, with no GPU
    assert probe["pointer"] == [True, True, True, True, False]  # a mouse, headless too


async def test_headful_with_no_display_and_no_xvfb_says_what_to_install(
    chromium: str, no_display: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # Chromium is named by its full path
    with pytest.raises(BrowserNotFound, match=r"install Xvfb .*apt-get install xvfb"):
        await Chromium.launch(Path(chromium), headless=False)
    assert not list(chromium_processes())


async def _async(value: object) -> object:
    return value
