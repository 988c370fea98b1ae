"""An interactive challenge like Turnstile (``tests/emulators/_turnstile.py``): the
harvest finds the checkbox through closed shadow roots and a frame from another host,
and clicks it with real input. The emulator is strict: a synthetic click, or a click
with no pointer movement before it, earns nothing; a widget that never yields ends in
a timeout that names it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import anyio
import pytest
from nodriver import cdp

from client import Config
from client.providers.cloudflare import TURNSTILE, CloudflareProvider
from harvester import Harvester, HarvestTimeout
from harvester._browser import Chromium
from storage import CredentialStore

from .._chat import chat_text
from ..emulators.cloudflare import CloudflareEmulator
from ..emulators.rig import BROWSER_ARGS, Rig

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

# Same-site frames share the page's renderer; an isolated origin gets its own process,
# as a widget from another site does: both ways of reaching into the frame are proven.
PROCESSES = {
    "frame in the page's process": (),
    "frame in its own process": ("--isolate-origins=https://challenges.cloudflare.com",),
}


def interactive(rig: Rig, tmp_path: Path, chromium: str, *args: str) -> Config:
    rig.cloudflare.state.interactive = True
    config = rig.config(tmp_path / "credentials.db", chromium)
    browser = dataclasses.replace(config.browser, args=(*BROWSER_ARGS, *args))
    return dataclasses.replace(config, browser=browser)


@pytest.mark.parametrize("args", PROCESSES.values(), ids=PROCESSES.keys())
async def test_the_harvest_clicks_through_the_widget_and_the_client_chats(
    rig: Rig, cloudflare: CloudflareEmulator, chromium: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    config = interactive(rig, tmp_path, chromium, *args)
    async with Harvester(config) as harvester:
        credential = await harvester.refresh("cloudflare")
    turnstile = cloudflare.state.turnstile
    assert turnstile.refused == []
    (click,) = turnstile.clicks
    assert click["trusted"] is True
    assert isinstance(click["moves"], int)
    assert click["moves"] >= 2
    assert "cf_clearance" in {c.name for c in credential.cookies}
    text = await chat_text(config, "cloudflare")
    assert text == " 1 2 3"


async def test_a_synthetic_click_and_a_click_without_movement_earn_no_token(
    rig: Rig, cloudflare: CloudflareEmulator, chromium: str, tmp_path: Path
) -> None:
    # What naive solvers do, on the widget the harvest passes: the emulator refuses both.
    config = interactive(rig, tmp_path, chromium)
    frame = re.compile(TURNSTILE.frame)
    browser = await Chromium.launch(Path(chromium), args=config.browser.args)
    try:
        page = await browser.new_page(proxy=rig.proxy.url)
        assert browser.info is not None
        await page.set_user_agent(browser.info)
        await page.navigate("https://playground.ai.cloudflare.com/")
        with anyio.fail_after(30):
            while (box := await page.find_in_frame(frame, TURNSTILE.target)) is None:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        # element.click() on the checkbox, reached the way automation reaches it.
        document = await page.send(cdp.dom.get_document(depth=-1, pierce=True))
        checkbox = next(
            n for n in _nodes(document) if n.node_name == "INPUT" and "cb" in (n.attributes or [])
        )
        remote = await page.send(cdp.dom.resolve_node(node_id=checkbox.node_id))
        await page.send(
            cdp.runtime.call_function_on(
                "function () { this.click(); }", object_id=remote.object_id
            )
        )
        # Real input, but pressed where the pointer never moved.
        x, y = box.x + box.width / 2, box.y + box.height / 2
        left = cdp.input_.MouseButton.LEFT
        for kind in ("mousePressed", "mouseReleased"):
            await page.send(
                cdp.input_.dispatch_mouse_event(kind, x=x, y=y, button=left, click_count=1)
            )
        turnstile = cloudflare.state.turnstile
        with anyio.fail_after(30):
            while len(turnstile.refused) < 2:  # noqa: ASYNC110 - the emulator has no event
                await anyio.sleep(0.05)
        title = await page.evaluate("document.title")
    finally:
        await browser.close()
    assert turnstile.refused == ["untrusted click", "no pointer movement before the click"]
    assert title == "Just a moment..."  # no token, no clearance


async def test_a_widget_that_never_yields_ends_in_a_timeout_naming_it(
    rig: Rig, cloudflare: CloudflareEmulator, chromium: str, tmp_path: Path
) -> None:
    config = interactive(rig, tmp_path, chromium)
    cloudflare.state.turnstile.never_issues = True
    widget = dataclasses.replace(TURNSTILE, retry_after=2.0)
    recipe = dataclasses.replace(CloudflareProvider.recipe, widgets=(widget,), timeout=10.0)
    async with Harvester(config, recipes={"cloudflare": recipe}) as harvester:
        with pytest.raises(HarvestTimeout) as caught:
            await harvester.refresh("cloudflare")
    async with CredentialStore.open(config.database) as store:
        assert await store.get("cloudflare", "default") is None
    message = str(caught.value)
    assert "the widget 'Turnstile checkbox' to let the page on (clicked 3 times" in message
    assert "the title 'Just a moment' to go" in message
    clicks = cloudflare.state.turnstile.clicks
    assert [c["trusted"] for c in clicks] == [True, True, True]
    assert cloudflare.state.turnstile.refused == ["the challenge never yields"] * 3


def _nodes(node: cdp.dom.Node) -> list[cdp.dom.Node]:
    found = [node]
    for child in [*(node.children or []), *(node.shadow_roots or [])]:
        found += _nodes(child)
    if node.content_document is not None:
        found += _nodes(node.content_document)
    return found
