#!/usr/bin/env python3
"""Benchmark ``harvest serve`` against the in-process ``AsyncClient``, in one run.

The emulators and the CONNECT proxy run in a subprocess, the server in another (as it
is deployed); both sides stream the same Cloudflare chat through the same proxy with
the same credential, harvested once by real Chromium. In-process: ``AsyncClient.stream``
in this process. Through the server: an HTTP client on loopback (curl_cffi, HTTP/1.1,
one connection per stream) reading the server's SSE chunks. The ratio is the cost of
the HTTP hop: the server's own work (OpenAI chunks, SSE, uvicorn) plus the extra parse
here.

    .venv/bin/python scripts/bench_server.py [--streams 200 1000] [--pieces 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from bench_client import (
    StreamFn,
    concurrent,
    one_stream,
    ours,
    rig_config,
    rig_served,
    row,
    rss,
    rss_peak_reset,
)
from curl_cffi.requests import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client import AsyncClient  # noqa: E402
from harvester import Harvester  # noqa: E402
from tests.emulators.rig import BROWSER_ARGS  # noqa: E402

MODEL = "cloudflare/llama-3.3-70b"
_LISTENING = re.compile(r"serving the OpenAI API on (http://\S+)/v1")


def through(session: AsyncSession, base: str) -> StreamFn:  # type: ignore[type-arg]
    """A chat through the server: its SSE chunks' text pieces."""

    async def stream(prompt: str) -> AsyncIterator[str]:
        body = {
            "model": MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
        response = await session.post(f"{base}/v1/chat/completions", json=body, stream=True)
        try:
            async for line in response.aiter_lines():
                if not line.startswith(b"data: {"):
                    continue  # blank separators and the final [DONE]
                for choice in json.loads(line[6:])["choices"]:
                    if text := choice["delta"].get("content"):
                        yield text
        finally:
            await response.aclose()

    return stream


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each measure's median over the runs; completed streams: the fewest of any run."""
    merged = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    merged["completed"] = min(run["completed"] for run in runs)
    return merged


def cpu_seconds(pid: int) -> float:
    """User and system CPU time ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(work: Path, info: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    others = ("flowgpt", "freenetfly", "g4f_space")  # nothing to harvest at its start
    toml = [
        f"database = {json.dumps(str(work / 'credentials.db'))}",
        "[browser]",
        f"args = {json.dumps(list(BROWSER_ARGS))}",
        "[network]",
        f"proxy = {json.dumps(info['proxy'])}",
        f"ca_bundle = {json.dumps(info['ca_file'])}",
        *(f"[providers.{name}]\nenabled = false" for name in others),
    ]
    (work / "serve.toml").write_text("\n".join(toml) + "\n")
    env = {**os.environ, "HARVEST_CONFIG": str(work / "serve.toml")}
    server = subprocess.Popen(
        [sys.executable, "-m", "harvester", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    for line in server.stderr:
        if match := _LISTENING.search(line):
            # Keep draining its log so the server never blocks on a full pipe.
            threading.Thread(target=server.stderr.read, daemon=True).start()
            return server, match.group(1)
    raise SystemExit(f"the server did not start (exit {server.wait()})")


async def main(args: argparse.Namespace, work: Path, info: dict[str, str]) -> None:
    config = rig_config(work, info)
    print("harvesting Cloudflare once with real Chromium...", file=sys.stderr)
    await Harvester(config).refresh("cloudflare")
    server, base = start_server(work, info)
    prompt = f"count to {args.pieces}"
    results = {}
    try:
        session: AsyncSession = AsyncSession(max_clients=max(args.streams), timeout=300)  # type: ignore[type-arg]
        async with AsyncClient(config) as client:
            mine, hop = ours(client, model="llama-3.3-70b"), through(session, base)
            await one_stream(mine, "count to 3")  # warm both: connections, sessions
            await one_stream(hop, "count to 3")
            for n in args.streams:
                print(f"{n} concurrent streams, {args.runs} runs each side...", file=sys.stderr)
                insides, serveds = [], []
                for run in range(args.runs):
                    # Alternate which side goes first: neither always meets the other's
                    # leftovers (garbage, warm caches).
                    for side in ("in", "out") if run % 2 == 0 else ("out", "in"):
                        here, there = cpu_seconds(os.getpid()), cpu_seconds(server.pid)
                        if side == "in":
                            insides.append(await concurrent(mine, n, prompt))
                            insides[-1]["cpu"] = cpu_seconds(os.getpid()) - here
                        else:
                            rss_peak_reset(server.pid)
                            serveds.append(await concurrent(hop, n, prompt))
                            serveds[-1]["server_rss"] = rss(pid=server.pid)
                            serveds[-1]["cpu"] = cpu_seconds(server.pid) - there
                            serveds[-1]["client_cpu"] = cpu_seconds(os.getpid()) - here
                results[n] = (median_of(insides), median_of(serveds))
        await session.close()
    finally:
        server.terminate()
        server.wait(30)

    print(
        f"\nCloudflare emulator through the CONNECT proxy, {args.pieces} text pieces per "
        f"stream; medians of {args.runs} runs; time to first token of each stream, from its start"
    )
    print(row("measure", "server", "in-process", "ratio"))
    print(row("-" * 44, "-" * 12, "-" * 12, "-" * 8))
    for n, (inside, served) in results.items():
        print(
            row(
                f"{n} streams: completed",
                f"{served['completed']:.0f}/{n}",
                f"{inside['completed']:.0f}/{n}",
                "",
            )
        )
        for key in ("p50", "p99"):
            print(
                row(
                    f"{n} streams: time to first token {key}",
                    f"{served[key] * 1000:.0f} ms",
                    f"{inside[key] * 1000:.0f} ms",
                    f"{served[key] / inside[key]:.2f}x",
                )
            )
        print(
            row(
                f"{n} streams: all done",
                f"{served['wall']:.2f} s",
                f"{inside['wall']:.2f} s",
                f"{served['wall'] / inside['wall']:.2f}x",
            )
        )
        print(
            row(
                f"{n} streams: CPU of the side doing the chats",
                f"{served['cpu']:.2f} s",
                f"{inside['cpu']:.2f} s",
                f"{served['cpu'] / inside['cpu']:.2f}x",
            )
        )
        print(
            row(
                f"{n} streams: CPU of the HTTP client here", f"{served['client_cpu']:.2f} s", "", ""
            )
        )
        print(
            row(
                f"{n} streams: peak RSS (server / this process)",
                f"{served['server_rss'] / 2**20:.0f} MiB",
                f"{inside['rss'] / 2**20:.0f} MiB",
                "",
            )
        )


def serve_and_run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-server-") as directory:
        work = Path(directory)
        with rig_served(work, args.chunk_delay) as info:
            anyio.run(main, args, work, info)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--runs", type=int, default=5, help="runs per side and stream count")
    parser.add_argument("--pieces", type=int, default=50, help="text pieces per stream")
    parser.add_argument(
        "--chunk-delay",
        type=float,
        default=0.0,
        help="seconds the emulator waits between pieces (0: as fast as it can send)",
    )
    serve_and_run(parser.parse_args())
