"""``[browser] cdp``: a Chromium someone else started (``--remote-debugging-port``, as
browserless or a sidecar container run it) is attached to instead of launched. Harvest
and fingerprint capture work through it, with per-context proxies; it is never
stopped, and only our contexts are closed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from harvester import BrowserFailed, Harvester

from .._chat import chat_text
from ..emulators.freenetfly import HOST as FREENETFLY
from ..emulators.proxy import SocksProxy
from ..emulators.rig import BROWSER_ARGS, Rig

pytestmark = [pytest.mark.browser, pytest.mark.anyio]


@pytest.fixture
async def running(chromium: str, tmp_path: Path) -> AsyncIterator[tuple[Process, int]]:
    """A headless Chromium with a DevTools port, started here, not by the harvester."""
    profile = tmp_path / "remote-profile"
    flags = ["--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}"]
    flags += [*BROWSER_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    process = await anyio.open_process(
        [chromium, *flags, "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its helpers in its group: all killed at the end
    )
    try:
        marker = profile / "DevToolsActivePort"
        with anyio.fail_after(30):
            while not await anyio.to_thread.run_sync(marker.exists):  # noqa: ASYNC110
                await anyio.sleep(0.05)
            text = ""
            while not text.strip():
                text = await anyio.to_thread.run_sync(marker.read_text)
        yield process, int(text.split()[0])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.aclose()


def devtools(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture(params=["plain proxy", "socks5h with a login"])
def exit_proxy(request: pytest.FixtureRequest, rig: Rig) -> Iterator[SocksProxy | None]:
    """The rig's own proxy, or a SOCKS5 one with a login (through the forwarder)."""
    if request.param == "plain proxy":
        yield None
        return
    proxy = SocksProxy(routes=dict(rig.proxy.routes), credentials=("remote", "s3cret")).start()
    yield proxy
    proxy.stop()


async def test_a_running_browser_is_attached_captured_harvested_and_left_running(
    rig: Rig, tmp_path: Path, running: tuple[Process, int], exit_proxy: SocksProxy | None
) -> None:
    process, port = running
    base = rig.config(tmp_path / "credentials.db")
    # The endpoint named by the address the browser reaches it at (not "localhost").
    browser = dataclasses.replace(
        base.browser, cdp=f"http://127.0.0.1:{port}", capture_host="127.0.0.1"
    )
    config = dataclasses.replace(base, browser=browser)
    if exit_proxy is not None:  # the attached browser's context goes the SOCKS way
        network = dataclasses.replace(config.network, proxy=exit_proxy.url("socks5h"))
        config = dataclasses.replace(config, network=network)
    pages_before = await anyio.to_thread.run_sync(devtools, port, "/json/list")
    async with Harvester(config) as harvester:
        credential = await harvester.refresh("freenetfly")
        assert harvester.browser_launches == 1
    # Its identity and fingerprint were read from the attached browser.
    assert credential.fingerprint is not None
    version = await anyio.to_thread.run_sync(devtools, port, "/json/version")
    assert isinstance(version, dict)
    assert credential.browser_version == version["Browser"].split("/")[1]
    assert credential.fingerprint["headers"]  # the capture page was opened and read
    # Still running, with only the pages it had: ours are gone.
    assert process.returncode is None
    pages_after = await anyio.to_thread.run_sync(devtools, port, "/json/list")
    assert isinstance(pages_before, list)
    assert isinstance(pages_after, list)
    assert sorted(p["id"] for p in pages_after) == sorted(p["id"] for p in pages_before)
    text = await chat_text(config, "freenetfly")
    assert text
    if exit_proxy is not None:
        assert credential.proxy == f"socks5h://remote:[secure]@127.0.0.1:{exit_proxy.port}"
        # Harvest and chat logged in; the emulators' names were resolved at the proxy.
        assert exit_proxy.authorized >= 2
        assert f"{FREENETFLY}:443" in exit_proxy.connects


async def test_no_browser_at_the_cdp_address_says_what_to_start(rig: Rig, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    base = rig.config(tmp_path / "credentials.db")
    browser = dataclasses.replace(base.browser, cdp=f"http://127.0.0.1:{closed}?token=SECRET-5")
    config = dataclasses.replace(base, browser=browser)
    async with Harvester(config) as harvester:
        with pytest.raises(BrowserFailed) as caught:
            await harvester.refresh("freenetfly")
    message = str(caught.value)
    assert f"no browser answers at http://127.0.0.1:{closed}/json/version" in message
    assert "--remote-debugging-port" in message
    assert "SECRET" not in message
