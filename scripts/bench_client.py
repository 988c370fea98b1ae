#!/usr/bin/env python3
"""Benchmark the client against bare curl_cffi on the Cloudflare emulator, in one run.

The emulator and the CONNECT proxy run in a subprocess (so their CPU is not charged to
what is measured); both sides go through the same proxy and TLS with the same
credential, harvested once by real Chromium. Ours: ``AsyncClient.stream`` (credential
from the store, headers and cookies per request, typed events, cookie write-back).
Baseline: a bare ``curl_cffi`` session iterating lines and decoding ``0:`` records.

    .venv/bin/python scripts/bench_client.py [--runs 5] [--chunks 100000] [--streams 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from curl_cffi.requests import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client import AsyncClient, BrowserConfig, Config, NetworkConfig, request_headers  # noqa: E402
from client._provider import ChatRequest, Message  # noqa: E402
from client.providers.cloudflare import inference_body  # noqa: E402
from harvester import Harvester  # noqa: E402
from storage import Credential  # noqa: E402
from tests.emulators.rig import BROWSER_ARGS  # noqa: E402

URL = "https://playground.ai.cloudflare.com/api/inference"
MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
StreamFn = Callable[[str], AsyncIterator[str]]


def rss_peak_reset() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def rss(field: str = "VmHWM") -> int:
    """The process's peak (``VmHWM``) or current (``VmRSS``) resident memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def ours(client: AsyncClient) -> StreamFn:
    async def stream(prompt: str) -> AsyncIterator[str]:
        async for event in client.stream("cloudflare", prompt, model=MODEL):
            if isinstance(event, str):
                yield event

    return stream


def bare(session: AsyncSession, credential: Credential) -> StreamFn:  # type: ignore[type-arg]
    async def stream(prompt: str) -> AsyncIterator[str]:
        body = inference_body(ChatRequest(MODEL, (Message("user", prompt),)))
        cookies = "; ".join(f"{c.name}={c.value}" for c in credential.cookies_for(URL))
        headers = request_headers(
            credential.headers,
            [("content-type", "application/json"), ("origin", URL.rsplit("/api", 1)[0])],
            cookie=cookies,
        )
        response = await session.request(
            "POST", URL, json=body, headers=headers, stream=True, default_headers=False
        )
        try:
            async for line in response.aiter_lines():
                if line.startswith(b"0:"):
                    yield json.loads(line[2:])
        finally:
            await response.aclose()

    return stream


async def one_stream(stream: StreamFn, prompt: str) -> tuple[float, float, int]:
    """(time to first text, total time, pieces of text) of one stream."""
    start = time.perf_counter()
    first = 0.0
    count = 0
    async for _ in stream(prompt):
        if count == 0:
            first = time.perf_counter() - start
        count += 1
    return first, time.perf_counter() - start, count


async def concurrent(stream: StreamFn, streams: int, prompt: str) -> dict[str, float]:
    firsts: list[float] = []
    completed = 0
    expected = int(prompt.split()[-1])

    async def one() -> None:
        nonlocal completed
        first, _, count = await one_stream(stream, prompt)
        firsts.append(first)
        completed += count == expected

    rss_peak_reset()
    before = rss("VmRSS")
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(streams):
            group.start_soon(one)
    wall = time.perf_counter() - start
    firsts.sort()
    return {
        "completed": completed,
        "p50": firsts[len(firsts) // 2],
        "p99": firsts[min(len(firsts) - 1, round(len(firsts) * 0.99) - 1)],
        "wall": wall,
        "rss": rss(),
        "growth": rss() - before,
    }


async def medians(
    action: Callable[[], Awaitable[tuple[float, float, int]]], runs: int
) -> tuple[float, float, int]:
    results = [await action() for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        min(r[2] for r in results),
    )


def row(name: str, ours_value: str, bare_value: str, ratio: str) -> str:
    return f"| {name:<44} | {ours_value:>12} | {bare_value:>12} | {ratio:>8} |"


async def main(args: argparse.Namespace, work: Path, info: dict[str, str]) -> None:
    config = Config(
        database=work / "credentials.db",
        browser=BrowserConfig(args=BROWSER_ARGS),
        network=NetworkConfig(proxy=info["proxy"], ca_bundle=Path(info["ca_file"])),
    )
    print("harvesting the emulator once with real Chromium...", file=sys.stderr)
    credential = await Harvester(config).refresh("cloudflare")
    await run(args, config, credential, info)


def serve_and_run(args: argparse.Namespace) -> None:
    """The emulators in a subprocess of their own, the measurements here."""
    with tempfile.TemporaryDirectory(prefix="bench-client-") as directory:
        work = Path(directory)
        command = [sys.executable, "-m", "tests.emulators.rig", str(work / "rig")]
        rig = subprocess.Popen(
            [*command, "--chunk-delay", "0", "--whole-records"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert rig.stdout is not None
            info = json.loads(rig.stdout.readline())
            anyio.run(main, args, work, info)
        finally:
            assert rig.stdin is not None
            rig.stdin.close()  # the rig serves until its stdin closes
            rig.wait(30)


async def run(
    args: argparse.Namespace, config: Config, credential: Credential, info: dict[str, str]
) -> None:
    big = f"count to {args.chunks}"
    small = f"count to {args.pieces}"
    session: AsyncSession = AsyncSession(  # type: ignore[type-arg]
        impersonate=credential.impersonate,
        proxy=info["proxy"],
        verify=info["ca_file"],
        max_clients=512,
        http_version="v2tls",
    )
    async with AsyncClient(config) as client:
        mine, theirs = ours(client), bare(session, credential)
        # Warm both (TLS connection, HTTP/2 session) so the first run is not charged.
        await one_stream(mine, "count to 3")
        await one_stream(theirs, "count to 3")
        print(f"{args.streams} concurrent streams...", file=sys.stderr)
        crowd_ours = await concurrent(mine, args.streams, small)
        crowd_bare = await concurrent(theirs, args.streams, small)
        print(f"one {args.chunks:,}-chunk stream, {args.runs} runs each...", file=sys.stderr)
        big_ours = await medians(lambda: one_stream(mine, big), args.runs)
        big_bare = await medians(lambda: one_stream(theirs, big), args.runs)
    await session.close()

    print(
        f"\nCloudflare emulator on loopback through the CONNECT proxy; medians of {args.runs} runs"
    )
    print(row("measure", "client", "bare curl", "ratio"))
    print(row("-" * 44, "-" * 12, "-" * 12, "-" * 8))
    print(
        row(
            f"{args.chunks:,}-chunk stream: time to first event",
            f"{big_ours[0] * 1000:.1f} ms",
            f"{big_bare[0] * 1000:.1f} ms",
            f"{big_ours[0] / big_bare[0]:.2f}x",
        )
    )
    print(
        row(
            f"{args.chunks:,}-chunk stream: total",
            f"{big_ours[1]:.2f} s",
            f"{big_bare[1]:.2f} s",
            f"{big_ours[1] / big_bare[1]:.2f}x",
        )
    )
    print(
        row(
            f"{args.chunks:,}-chunk stream: text events", f"{big_ours[2]:,}", f"{big_bare[2]:,}", ""
        )
    )
    n = args.streams
    print(
        row(
            f"{n} concurrent streams: completed",
            f"{crowd_ours['completed']:.0f}/{n}",
            f"{crowd_bare['completed']:.0f}/{n}",
            "",
        )
    )
    for key, label in (("p50", "p50"), ("p99", "p99")):
        print(
            row(
                f"{n} concurrent: time to first event {label}",
                f"{crowd_ours[key] * 1000:.0f} ms",
                f"{crowd_bare[key] * 1000:.0f} ms",
                f"{crowd_ours[key] / crowd_bare[key]:.2f}x",
            )
        )
    print(
        row(
            f"{n} concurrent: all done",
            f"{crowd_ours['wall']:.2f} s",
            f"{crowd_bare['wall']:.2f} s",
            f"{crowd_ours['wall'] / crowd_bare['wall']:.2f}x",
        )
    )
    print(
        row(
            f"{n} concurrent: peak RSS of the process",
            f"{crowd_ours['rss'] / 2**20:.0f} MiB",
            f"{crowd_bare['rss'] / 2**20:.0f} MiB",
            f"{crowd_ours['rss'] / crowd_bare['rss']:.2f}x",
        )
    )
    # The peak is of the whole process and the baseline runs second (it starts with
    # what ours left allocated): the growth during each run is the fairer comparison.
    print(
        row(
            f"{n} concurrent: RSS growth during the run",
            f"{crowd_ours['growth'] / 2**20:.1f} MiB",
            f"{crowd_bare['growth'] / 2**20:.1f} MiB",
            "",
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--pieces", type=int, default=50, help="text pieces per concurrent stream")
    serve_and_run(parser.parse_args())
