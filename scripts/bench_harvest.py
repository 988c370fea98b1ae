#!/usr/bin/env python3
"""Benchmark the harvester against the naive way, on the local protected test site.

Ours: one warm Chromium, one isolated context per harvest, readiness seen from CDP
events. Naive (gpt4free's ``get_args_from_nodriver``): a new browser per harvest and a
readiness check once a second. Both run the same site (an interstitial that clears
after 300 ms, then an app page that calls its API) in the same run; medians over
``--runs`` runs.

With ``--paths`` it times the ways a harvest can go instead, against the emulators
(behind the rig's CONNECT proxy): headless through the plain proxy (the baseline),
through a proxy with a password and through SOCKS5 with a login (the loopback
forwarder), headful under Xvfb, attached to a running browser over CDP, and
Cloudflare's automatic challenge against its interactive one (the Turnstile click).
It also prints what a page can see of headless and headful.

    .venv/bin/python scripts/bench_harvest.py [--runs 5] [--paths]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio
import anyio.abc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client import BrowserConfig, Config, HarvesterConfig  # noqa: E402
from harvester import Harvester  # noqa: E402
from harvester._browser import Chromium, find_chromium  # noqa: E402
from tests.harvester._procs import chromium_processes, rss_bytes  # noqa: E402
from tests.harvester._site import Site, site_recipe  # noqa: E402

PARALLEL = 4


class PeakRss:
    """Samples the summed RSS of every harvester Chromium process while running."""

    def __init__(self) -> None:
        self.peak = 0

    async def sample(self) -> None:
        while True:
            # Reading /proc blocks: off the event loop, so the harvests are not slowed.
            now = await anyio.to_thread.run_sync(lambda: rss_bytes(chromium_processes()))
            self.peak = max(self.peak, now)
            await anyio.sleep(0.05)


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def in_parallel(action: Callable[[int], Awaitable[object]], count: int) -> None:
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(action, index)


async def with_peak(action: Callable[[], Awaitable[object]]) -> tuple[float, int]:
    rss = PeakRss()
    async with anyio.create_task_group() as group:
        group.start_soon(rss.sample)
        seconds = await timed(action)
        group.cancel_scope.cancel()
    return seconds, rss.peak


async def naive_harvest(executable: Path, site: Site) -> None:
    """A new browser, readiness polled once a second, cookies read, browser closed."""
    browser = await Chromium.launch(executable)
    try:
        assert browser.info is not None
        page = await browser.new_page()
        await page.set_user_agent(browser.info)  # or the site refuses it outright
        await page.navigate(f"{site.base}/site/")
        # The naive way on purpose: a check once a second.
        while await page.evaluate("!!document.querySelector('#app-ready')") is not True:  # noqa: ASYNC110
            await anyio.sleep(1)
        cookies = await page.cookies()
        assert {c.name for c in cookies} >= {"clearance", "sid"}
    finally:
        await browser.close()


async def main(runs: int) -> None:
    site = Site().start()
    executable = find_chromium()
    recipes = {"site": site_recipe(site.base)}
    rows: dict[str, list[float]] = {
        name: []
        for name in (
            "cold_start",
            "warm",
            "parallel",
            "parallel_rss",
            "naive",
            "naive_parallel",
            "naive_rss",
        )
    }
    with tempfile.TemporaryDirectory() as folder:
        config = Config(
            database=Path(folder) / "bench.db",
            browser=BrowserConfig(executable=executable),
            harvester=HarvesterConfig(concurrency=PARALLEL, restart_after=10_000),
        )
        for run in range(runs):
            print(f"run {run + 1}/{runs}...", file=sys.stderr, flush=True)

            started = time.perf_counter()
            browser = await Chromium.launch(executable)
            rows["cold_start"].append(time.perf_counter() - started)
            await browser.close()

            async with Harvester(config, recipes=recipes) as harvester:
                await harvester.refresh("site", "warm-up")  # the browser is now warm
                one = functools.partial(harvester.refresh, "site", f"w{run}")
                rows["warm"].append(await timed(one))

                async def ours(index: int, run: int = run) -> None:
                    await harvester.refresh("site", f"p{run}-{index}")

                seconds, peak = await with_peak(lambda: in_parallel(ours, PARALLEL))
                rows["parallel"].append(seconds)
                rows["parallel_rss"].append(peak / 2**20)

            rows["naive"].append(await timed(lambda: naive_harvest(executable, site)))

            async def naive(index: int) -> None:
                await naive_harvest(executable, site)

            seconds, peak = await with_peak(lambda: in_parallel(naive, PARALLEL))
            rows["naive_parallel"].append(seconds)
            rows["naive_rss"].append(peak / 2**20)
    site.stop()
    print_table(rows, runs)


def print_table(rows: dict[str, list[float]], runs: int) -> None:
    med = {name: statistics.median(values) for name, values in rows.items()}
    lines = [
        ("browser cold start (launch + attach + hints)", med["cold_start"], None, "s"),
        ("one harvest", med["warm"], med["naive"], "s"),
        (f"{PARALLEL} harvests in parallel", med["parallel"], med["naive_parallel"], "s"),
        (
            f"peak RSS of Chromium, {PARALLEL} in parallel",
            med["parallel_rss"],
            med["naive_rss"],
            "MB",
        ),
    ]
    print(f"harvest benchmark: medians of {runs} runs, local test site, Chromium headless")
    print(f"{'measure':<46} {'ours':>9} {'naive':>9} {'naive/ours':>11}")
    for label, ours, naive, unit in lines:
        naive_text = f"{naive:8.2f}{unit[0]}" if naive is not None else f"{'-':>9}"
        ratio = f"{naive / ours:10.2f}x" if naive is not None else f"{'-':>11}"
        unit_text = "s" if unit == "s" else "M"
        print(f"{label:<46} {ours:8.2f}{unit_text} {naive_text} {ratio}")
    print(
        "ours: one warm browser, a context per harvest, event-driven readiness; "
        "naive: a new browser per harvest, readiness polled every second"
    )


# -- the harvest paths ---------------------------------------------------------------

USER, PASSWORD = "bench-user", "bench-password"
# What a page can read of the display and the automation.
PROBE = """JSON.stringify({
  "navigator.webdriver": navigator.webdriver,
  "inner size": [innerWidth, innerHeight].join("x"),
  "outer size": [outerWidth, outerHeight].join("x"),
  "screen": [screen.width, screen.height].join("x"),
  "available screen": [screen.availWidth, screen.availHeight].join("x"),
  "colour depth": screen.colorDepth,
  "devicePixelRatio": devicePixelRatio,
  "WebGL renderer": (() => {
    const gl = document.createElement("canvas").getContext("webgl");
    const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL).slice(0, 40) : null;
  })(),
  "(hover: hover)": matchMedia("(hover: hover)").matches,
  "(pointer: fine)": matchMedia("(pointer: fine)").matches,
  "navigator.plugins": navigator.plugins.length,
  "window.chrome": typeof window.chrome,
  "Notification.permission": Notification.permission,
  "screenX, screenY": [screenX, screenY].join(","),
})"""


async def paths(runs: int) -> None:
    from tests.emulators.proxy import ConnectProxy, SocksProxy
    from tests.emulators.rig import BROWSER_ARGS, Rig

    os.environ.pop("DISPLAY", None)  # headful means: on an Xvfb of its own
    executable = find_chromium()
    with tempfile.TemporaryDirectory() as folder:
        rig = Rig(Path(folder) / "rig").start()
        routes = dict(rig.proxy.routes)
        authed = ConnectProxy(routes=routes, credentials=(USER, PASSWORD)).start()
        socks = SocksProxy(routes=routes, credentials=(USER, PASSWORD)).start()
        remote = await _running_browser(executable, Path(folder) / "remote", BROWSER_ARGS)
        try:
            base = rig.config(Path(folder) / "bench.db", str(executable))

            def via(proxy: str) -> Config:
                network = dataclasses.replace(base.network, proxy=proxy)
                return dataclasses.replace(base, network=network)

            variants = {
                "headless, plain proxy (baseline)": base,
                "proxy with a password (forwarder)": via(
                    f"http://{USER}:{PASSWORD}@127.0.0.1:{authed.port}"
                ),
                "socks5h with a login (forwarder)": via(socks.url("socks5h")),
                "headful under Xvfb": dataclasses.replace(
                    base, browser=dataclasses.replace(base.browser, headless=False)
                ),
                "attached over CDP (remote browser)": dataclasses.replace(
                    base,
                    browser=dataclasses.replace(base.browser, cdp=f"http://127.0.0.1:{remote[1]}"),
                ),
            }
            times: dict[str, list[float]] = {name: [] for name in variants}
            starts: dict[str, float] = {}
            # Page cache and the like warm for all: the first path measured is not
            # charged for them.
            await (await Chromium.launch(executable)).close()
            async with contextlib.AsyncExitStack() as stack:
                harvesters = {}
                for name, config in variants.items():
                    print(f"{name}...", file=sys.stderr, flush=True)
                    harvester = await stack.enter_async_context(Harvester(config))
                    # The first harvest starts (or attaches to) the browser and captures.
                    one = functools.partial(harvester.refresh, "freenetfly", "w")
                    starts[name] = await timed(one)
                    harvesters[name] = harvester
                for run in range(runs):  # the paths in turn, so drift hits all alike
                    for name, harvester in harvesters.items():
                        one = functools.partial(harvester.refresh, "freenetfly", f"r{run}")
                        times[name].append(await timed(one))
            challenge: dict[str, list[float]] = {"automatic": [], "interactive": []}
            async with Harvester(base) as harvester:
                await harvester.refresh("cloudflare", "w")
                for run in range(runs):
                    for kind in challenge:
                        rig.cloudflare.state.interactive = kind == "interactive"
                        one = functools.partial(harvester.refresh, "cloudflare", f"{kind}{run}")
                        challenge[kind].append(await timed(one))
            seen = {headless: await _probe(executable, headless) for headless in (True, False)}
        finally:
            os.killpg(remote[0].pid, signal.SIGKILL)
            await remote[0].aclose()
            authed.stop()
            socks.stop()
            rig.stop()
    _print_paths(times, starts, challenge, runs)
    _print_probe(seen)


async def _running_browser(
    executable: Path, profile: Path, args: Sequence[str]
) -> tuple[anyio.abc.Process, int]:
    """A Chromium with a DevTools port, as a browser service runs one."""
    flags = ["--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}", *args]
    flags += ["--no-sandbox"] if os.geteuid() == 0 else []
    process = await anyio.open_process(
        [str(executable), *flags, "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = profile / "DevToolsActivePort"

    def port() -> str:
        return marker.read_text() if marker.exists() else ""

    with anyio.fail_after(30):
        while not (text := await anyio.to_thread.run_sync(port)).strip():  # noqa: ASYNC110
            await anyio.sleep(0.05)
    return process, int(text.split()[0])


async def _probe(executable: Path, headless: bool) -> dict[str, object]:
    browser = await Chromium.launch(executable, headless=headless)
    try:
        page = await browser.new_page()
        assert browser.info is not None
        await page.set_user_agent(browser.info)
        seen: dict[str, object] = json.loads(await page.evaluate(PROBE))
        seen["navigator.userAgent (harvest identity)"] = (
            "Chrome"
            if "HeadlessChrome" not in await page.evaluate("navigator.userAgent")
            else "HeadlessChrome"
        )
        return seen
    finally:
        await browser.close()


def _print_paths(
    times: dict[str, list[float]],
    starts: dict[str, float],
    challenge: dict[str, list[float]],
    runs: int,
) -> None:
    baseline = statistics.median(next(iter(times.values())))
    first_start = next(iter(starts.values()))
    print(
        f"harvest paths: medians of {runs} harvests each (freenetfly emulator), "
        "paths alternated in one run"
    )
    print(f"{'path':<40} {'harvest':>9} {'ratio':>7} {'first (start+capture)':>22}")
    for name, values in times.items():
        median = statistics.median(values)
        ratio = median / baseline
        first = starts[name]
        print(
            f"{name:<40} {median:8.3f}s {ratio:6.2f}x {first:9.2f}s ({first / first_start:4.2f}x)"
        )
    automatic = statistics.median(challenge["automatic"])
    interactive = statistics.median(challenge["interactive"])
    print(f"cloudflare, automatic challenge (300 ms)  {automatic:8.3f}s {1:6.2f}x")
    print(
        f"cloudflare, Turnstile click               {interactive:8.3f}s "
        f"{interactive / automatic:6.2f}x"
    )


def _print_probe(seen: dict[bool, dict[str, object]]) -> None:
    print()
    print("what a page sees, headless and headful (under Xvfb), same Chromium and flags")
    print(f"{'property':<40} {'headless':>24} {'headful':>24}  ")
    for key in seen[True]:
        one, other = seen[True][key], seen[False].get(key)
        mark = "" if one == other else "  differs"
        print(f"{key:<40} {json.dumps(one)[:24]:>24} {json.dumps(other)[:24]:>24}{mark}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--paths", action="store_true", help="the harvest paths instead")
    options = parser.parse_args()
    if options.paths:
        anyio.run(paths, options.runs)
    else:
        anyio.run(main, options.runs)
