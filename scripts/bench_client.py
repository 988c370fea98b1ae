#!/usr/bin/env python3
"""Benchmark the client against bare curl_cffi on the provider emulators, in one run.

The emulator and the CONNECT proxy run in a subprocess (so their CPU is not charged to
what is measured); both sides go through the same proxy and TLS with the same
credential, harvested once by real Chromium. Ours: ``AsyncClient.stream`` (credential
from the store, headers and cookies per request, typed events, cookie write-back).
Baseline: a bare ``curl_cffi`` session iterating lines and decoding ``0:`` records.
Then one row per provider: the same chat through the client and through the least
``curl_cffi`` code that speaks that provider's protocol.

    .venv/bin/python scripts/bench_client.py [--runs 5] [--chunks 100000] [--streams 1000,10000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import anyio
from curl_cffi import CurlMOpt, CurlOpt
from curl_cffi.requests import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client import AsyncClient, BrowserConfig, Config, NetworkConfig  # noqa: E402
from client._provider import ChatRequest, Message  # noqa: E402
from client._transport import MAX_CLIENTS, MAX_CONNECTIONS, replay_options  # noqa: E402
from client.providers import flowgpt, freenetfly  # noqa: E402
from client.providers.cloudflare import inference_body  # noqa: E402
from fingerprint import request_headers  # noqa: E402
from harvester import Harvester  # noqa: E402
from storage import Credential  # noqa: E402
from tests.emulators.rig import BROWSER_ARGS  # noqa: E402

URL = "https://playground.ai.cloudflare.com/api/inference"
MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
StreamFn = Callable[[str], AsyncIterator[str]]


def rss_peak_reset(pid: int | str = "self") -> None:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss(field: str = "VmHWM", pid: int | str = "self") -> int:
    """A process's peak (``VmHWM``) or current (``VmRSS``) resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def ours(client: AsyncClient, provider: str = "cloudflare", model: str | None = MODEL) -> StreamFn:
    async def stream(prompt: str) -> AsyncIterator[str]:
        async for event in client.stream(provider, prompt, model=model):
            if provider == "g4f_space" or isinstance(event, str):  # its status lines count
                yield str(event)

    return stream


def bare(session: AsyncSession, credential: Credential) -> StreamFn:  # type: ignore[type-arg]
    async def stream(prompt: str) -> AsyncIterator[str]:
        body = inference_body(ChatRequest(MODEL, (Message("user", prompt),)))
        extra = [("content-type", "application/json"), ("origin", URL.rsplit("/api", 1)[0])]
        async for line in post_lines(session, credential, URL, body, extra):
            if line.startswith(b"0:"):
                yield json.loads(line[2:])

    return stream


async def post_lines(
    session: AsyncSession,  # type: ignore[type-arg]
    credential: Credential,
    url: str,
    body: object,
    extra: list[tuple[str, str]],
) -> AsyncIterator[bytes]:
    """POST ``body`` with the credential's headers and cookies; the answer's lines."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in credential.cookies_for(url))
    headers = request_headers(credential.headers, extra, cookie=cookies)
    response = await session.request(
        "POST", url, json=body, headers=headers, stream=True, default_headers=False
    )
    try:
        async for line in response.aiter_lines():
            yield line
    finally:
        await response.aclose()


def bare_flowgpt(session: AsyncSession, credential: Credential) -> StreamFn:  # type: ignore[type-arg]
    url = "https://prod-backend-k8s.flowgpt.com/v3/chat-anonymous"

    async def stream(prompt: str) -> AsyncIterator[str]:
        body = flowgpt.chat_body(ChatRequest("gpt-3.5-turbo", (Message("user", prompt),)))
        extra = [
            *flowgpt.signature_headers(time.time(), secrets.token_hex(16)),
            ("x-flow-device-id", credential.tokens["device_id"]),
            ("content-type", "application/json"),
            ("origin", "https://flowgpt.com"),
            ("referer", "https://flowgpt.com/"),
        ]
        async for line in post_lines(session, credential, url, body, extra):
            record = json.loads(line)
            if record.get("event") == "text":
                yield record["data"]

    return stream


def bare_freenetfly(session: AsyncSession, credential: Credential) -> StreamFn:  # type: ignore[type-arg]
    url = "https://free.netfly.top/api/openai/v1/chat/completions"

    async def stream(prompt: str) -> AsyncIterator[str]:
        body = freenetfly.chat_body(ChatRequest("gpt-3.5-turbo", (Message("user", prompt),)))
        extra = [
            ("accept", "application/json, text/event-stream"),
            ("content-type", "application/json"),
            ("origin", "https://free.netfly.top"),
        ]
        async for line in post_lines(session, credential, url, body, extra):
            if line.startswith(b"data: {"):
                content = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if content:
                    yield content

    return stream


def bare_g4f(session: AsyncSession, credential: Credential) -> StreamFn:  # type: ignore[type-arg]
    space = "https://roxky-janus-pro-7b.hf.space"

    async def stream(prompt: str) -> AsyncIterator[str]:
        tokens = credential.tokens
        zerogpu = [("x-zerogpu-token", tokens["token"]), ("x-zerogpu-uuid", tokens["sessionUuid"])]
        # The browser's headers and cookies, as the other providers' bare code sends them
        # (sending two headers alone would make the comparison a header count's).
        cookies = "; ".join(f"{c.name}={c.value}" for c in credential.cookies_for(space + "/"))
        post = request_headers(
            credential.headers,
            [*zerogpu, ("content-type", "application/json"), ("origin", space)],
            cookie=cookies,
        )
        get = request_headers(
            credential.headers, [*zerogpu, ("accept", "text/event-stream")], cookie=cookies
        )
        session_hash = secrets.token_hex(16)
        body = {
            "data": [None, prompt, 1234, 0.95, 0.1],
            "event_data": None,
            "fn_index": 2,
            "session_hash": session_hash,
        }
        join = f"{space}/gradio_api/queue/join?__theme=light"
        await session.post(join, json=body, headers=post, default_headers=False)
        response = await session.get(
            f"{space}/gradio_api/queue/data?session_hash={session_hash}",
            headers=get,
            stream=True,
            default_headers=False,
        )
        try:
            async for line in response.aiter_lines():
                if not line.startswith(b"data: "):
                    continue
                message = json.loads(line[6:])
                if message.get("msg") == "log":
                    yield message["log"]
                elif message.get("msg") == "progress":
                    step = message["progress_data"][0]
                    yield f"{step['desc']} {step['index']}/{step['length']}"
                elif message.get("msg") == "process_completed":
                    yield message["output"]["data"][0]
                    return
        finally:
            await response.aclose()

    return stream


async def one_stream(
    stream: StreamFn, prompt: str, start: float | None = None
) -> tuple[float, float, int]:
    """(time to first text, total time, pieces of text) of one stream, from ``start``
    (default: now)."""
    start = time.perf_counter() if start is None else start
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

    errors: dict[str, int] = {}

    async def one() -> None:
        nonlocal completed
        try:
            # From when the caller started them all, not from when this task first ran
            # (a side whose tasks run their set-up one after another would look faster).
            first, _, count = await one_stream(stream, prompt, start)
        except Exception as exc:  # counted, not fatal: the table says how many failed
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        firsts.append(first)
        completed += count == expected

    rss_peak_reset()
    before = rss("VmRSS")
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(streams):
            group.start_soon(one)
    wall = time.perf_counter() - start
    if errors:
        print(f"  {sum(errors.values())} of {streams} streams failed: {errors}", file=sys.stderr)
    firsts.sort()
    if not firsts:  # every stream failed
        firsts.append(math.nan)
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


async def alternated(
    pair: tuple[StreamFn, StreamFn], prompt: str, runs: int
) -> list[tuple[float, float, int]]:
    """Each side's medians over ``runs`` streams taken in turn (ours, bare, ours, ...),
    so a drift of the shared machine weighs on both alike."""
    results: list[list[tuple[float, float, int]]] = [[], []]
    for _ in range(runs):
        for side, kept in zip(pair, results, strict=True):
            kept.append(await one_stream(side, prompt))
    return [
        (
            statistics.median(r[0] for r in kept),
            statistics.median(r[1] for r in kept),
            min(r[2] for r in kept),
        )
        for kept in results
    ]


def median_rounds(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (the fewest completed; the highest peak)."""
    merged = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    merged["completed"] = min(r["completed"] for r in rounds)
    merged["rss"] = max(r["rss"] for r in rounds)
    return merged


def print_crowd(n: int, crowd_ours: dict[str, float], crowd_bare: dict[str, float]) -> None:
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
            f"{n} concurrent: store operations per stream", f"{crowd_ours['store_ops']:.4f}", "", ""
        )
    )
    print(
        row(
            f"{n} concurrent: cookie rotations / write-backs per s",
            f"{crowd_ours['rotations_per_s']:.0f} / {crowd_ours['writes_per_s']:.1f}",
            "",
            "",
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
            f"{n} concurrent: RSS growth per stream",
            f"{crowd_ours['growth'] / n / 1024:.1f} KiB",
            f"{crowd_bare['growth'] / n / 1024:.1f} KiB",
            "",
        )
    )


def row(name: str, ours_value: str, bare_value: str, ratio: str) -> str:
    return f"| {name:<44} | {ours_value:>12} | {bare_value:>12} | {ratio:>8} |"


def rig_config(work: Path, info: dict[str, str]) -> Config:
    """A config for the rig ``rig_served`` started, with its database in ``work``."""
    return Config(
        database=work / "credentials.db",
        browser=BrowserConfig(args=BROWSER_ARGS),
        network=NetworkConfig(proxy=info["proxy"], ca_bundle=Path(info["ca_file"])),
    )


async def main(args: argparse.Namespace, work: Path, info: dict[str, str]) -> None:
    config = rig_config(work, info)
    print("harvesting the emulators once with real Chromium...", file=sys.stderr)
    async with Harvester(config) as harvester:
        credentials = {name: await harvester.refresh(name) for name in BARE}
    await run(args, config, credentials, info)


@contextlib.contextmanager
def rig_served(work: Path, chunk_delay: float = 0.0) -> Iterator[dict[str, str]]:
    """The emulators behind the proxy in a subprocess of their own (its CPU is not
    charged to what is measured), one piece per record; yields its proxy and CA file."""
    command = [sys.executable, "-m", "tests.emulators.rig", str(work / "rig")]
    rig = subprocess.Popen(
        [*command, "--chunk-delay", str(chunk_delay), "--whole-records"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert rig.stdout is not None
        info = json.loads(rig.stdout.readline())
        yield {**info, "pid": str(rig.pid), "directory": str(work / "rig")}
    finally:
        assert rig.stdin is not None
        rig.stdin.close()  # the rig serves until its stdin closes
        rig.wait(30)


def tunnels(info: dict[str, str], host: str) -> int:
    """How many tunnels (TCP + TLS handshakes) the rig's proxy opened to ``host``."""
    report = Path(info["directory"]) / "connects.json"
    report.unlink(missing_ok=True)
    os.kill(int(info["pid"]), signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not report.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the rig did not report its tunnels")
        time.sleep(0.01)
    time.sleep(0.01)  # written in one call, but let it finish
    return int(json.loads(report.read_text()).get(host, 0))


def serve_and_run(args: argparse.Namespace) -> None:
    """The emulators in a subprocess of their own, the measurements here."""
    with tempfile.TemporaryDirectory(prefix="bench-client-") as directory:
        work = Path(directory)
        with rig_served(work) as info:
            anyio.run(main, args, work, info)


# provider -> (model, the bare curl_cffi version of its protocol)
BARE: dict[str, tuple[str | None, Callable[[AsyncSession, Credential], StreamFn]]] = {  # type: ignore[type-arg]
    "cloudflare": (MODEL, bare),
    "flowgpt": (None, bare_flowgpt),
    "freenetfly": (None, bare_freenetfly),
    "g4f_space": ("janus-pro-7b", bare_g4f),
}


async def run(
    args: argparse.Namespace,
    config: Config,
    credentials: dict[str, Credential],
    info: dict[str, str],
) -> None:
    credential = credentials["cloudflare"]
    big = f"count to {args.chunks}"
    small = f"count to {args.pieces}"

    def bare_session(*, connections_as_chromium: bool = False) -> AsyncSession:  # type: ignore[type-arg]
        options = dict(replay_options(credential))
        if connections_as_chromium:
            # The client's connection rules (concurrent requests share a connection, 6
            # per host): the same wire, so the ratio is the client's own cost, not the
            # server's per-connection throughput against 512 connections.
            options[CurlOpt.PIPEWAIT] = 1
        session: AsyncSession = AsyncSession(  # type: ignore[type-arg]
            impersonate=credential.impersonate,
            # The emulator binds its clearance to the browser's JA4, as the real site does:
            # bare curl needs the same fingerprint options to be let in at all.
            curl_options=options,
            proxy=info["proxy"],
            verify=info["ca_file"],
            max_clients=MAX_CLIENTS,
            http_version="v2tls",
        )
        if connections_as_chromium:
            session.acurl.setopt(CurlMOpt.MAX_HOST_CONNECTIONS, MAX_CONNECTIONS)  # type: ignore[no-untyped-call]
        return session

    counts = args.streams
    first = counts[0]
    print(f"{first} concurrent streams on a new session...", file=sys.stderr)
    host = "playground.ai.cloudflare.com:443"
    start = tunnels(info, host)
    async with AsyncClient(config) as fresh:
        cold_ours = await concurrent(ours(fresh), first, small)
    middle = tunnels(info, host)
    cold = bare_session()
    cold_bare = await concurrent(bare(cold, credential), first, small)
    await cold.close()
    cold_ours["handshakes"] = middle - start
    cold_bare["handshakes"] = tunnels(info, host) - middle
    session = bare_session(connections_as_chromium=True)
    async with AsyncClient(config) as client:
        mine, theirs = ours(client), bare(session, credential)
        # Warm both (TLS connection, HTTP/2 session) so the first run is not charged.
        await one_stream(mine, "count to 3")
        await one_stream(theirs, "count to 3")
        crowds: dict[int, tuple[dict[str, float], dict[str, float]]] = {}
        for n in counts:
            print(f"{n} concurrent streams, {args.rounds} rounds each...", file=sys.stderr)
            view = client.view
            ops = view.reads + view.checks + view.writes
            writes = view.writes
            rounds_ours, rounds_bare = [], []
            for _ in range(args.rounds):  # alternated: the machine's drift hits both
                rounds_ours.append(await concurrent(mine, n, small))
                rounds_bare.append(await concurrent(theirs, n, small))
            mine_n, theirs_n = median_rounds(rounds_ours), median_rounds(rounds_bare)
            wall = sum(r["wall"] for r in rounds_ours)
            mine_n["store_ops"] = (view.reads + view.checks + view.writes - ops) / (n * args.rounds)
            mine_n["writes_per_s"] = (view.writes - writes) / wall
            mine_n["rotations_per_s"] = n * args.rounds / wall  # each answer sets __cf_bm
            crowds[n] = (mine_n, theirs_n)
        print(f"one {args.chunks:,}-chunk stream, {args.runs} runs each...", file=sys.stderr)
        big_ours = await medians(lambda: one_stream(mine, big), args.runs)
        big_bare = await medians(lambda: one_stream(theirs, big), args.runs)
        print(f"each provider, {args.provider_runs} runs each...", file=sys.stderr)
        providers = {}
        for name, (model, make) in BARE.items():
            pair = ours(client, name, model), make(session, credentials[name])
            for side in pair:
                await one_stream(side, small)  # warm: connection and session
            providers[name] = await alternated(pair, small, args.provider_runs)
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
    n = first
    print(
        row(
            f"new session, {n} concurrent: TLS handshakes",
            f"{cold_ours['handshakes']:.0f}",
            f"{cold_bare['handshakes']:.0f}",
            "",
        )
    )
    print(
        row(
            f"new session, {n} concurrent: first event p50",
            f"{cold_ours['p50'] * 1000:.0f} ms",
            f"{cold_bare['p50'] * 1000:.0f} ms",
            f"{cold_ours['p50'] / cold_bare['p50']:.2f}x",
        )
    )
    for n, (crowd_ours, crowd_bare) in crowds.items():
        print_crowd(n, crowd_ours, crowd_bare)

    print(
        f"\nEach provider's emulator, one chat of {args.pieces} pieces; medians of "
        f"{args.provider_runs} runs (g4f_space: Janus text through the Gradio queue, whose "
        "first event is a status line)"
    )
    print(row("provider: time to first event / total", "client", "bare curl", "ratio"))
    print(row("-" * 44, "-" * 12, "-" * 12, "-" * 8))
    for name, (mine_p, bare_p) in providers.items():
        for index, what in ((0, "time to first event"), (1, "total")):
            print(
                row(
                    f"{name}: {what}",
                    f"{mine_p[index] * 1000:.1f} ms",
                    f"{bare_p[index] * 1000:.1f} ms",
                    f"{mine_p[index] / bare_p[index]:.2f}x",
                )
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument(
        "--streams",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 10000],
        help="concurrent stream counts, comma-separated (the first also on a new session)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds per count")
    parser.add_argument("--pieces", type=int, default=50, help="text pieces per concurrent stream")
    parser.add_argument("--provider-runs", type=int, default=20, help="runs per provider row")
    serve_and_run(parser.parse_args())
