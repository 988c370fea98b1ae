#!/usr/bin/env python3
"""Benchmark the harvester against the naive way, on the local protected test site.

Ours: one warm Chromium, one isolated context per harvest, readiness seen from CDP
events. Naive (gpt4free's ``get_args_from_nodriver``): a new browser per harvest and a
readiness check once a second. Both run the same site (an interstitial that clears
after 300 ms, then an app page that calls its API) in the same run; medians over
``--runs`` runs.

    .venv/bin/python scripts/bench_harvest.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    anyio.run(main, parser.parse_args().runs)
