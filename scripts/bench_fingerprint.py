#!/usr/bin/env python3
"""What the exact fingerprint costs: parsing, capturing at browser start, replaying.

- parse: one ClientHello (a recorded one, 1.7 KB) parsed and its JA4/JA3/Akamai
  computed, against the TLS handshake it rides on (Python's ssl on loopback).
- capture: the harvester's capture in a started Chromium (two endpoint visits, HTTP/2
  and HTTP/1.1, and from each page every provider's API calls) against the two page
  loads alone (what the capture was before the calls), with Chromium's start and exit
  for scale.
- replay: a new curl_cffi session's first request to the endpoint with the capture's
  option overrides, against the plain nearest target; and whether each matches JA4.

    .venv/bin/python scripts/bench_fingerprint.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client import ClientConfig, Transport  # noqa: E402
from client.providers import api_calls  # noqa: E402
from fingerprint import Fingerprint, parse_client_hello  # noqa: E402
from harvester._browser import Chromium, find_chromium  # noqa: E402
from harvester._capture import capture_browser  # noqa: E402
from harvester._endpoint import FingerprintEndpoint  # noqa: E402
from storage import Credential  # noqa: E402

RECORDED = ROOT / "tests" / "data" / "chrome131_capture.json"


def row(name: str, ours: str, base: str, ratio: str = "") -> str:
    return f"| {name:<44} | {ours:>12} | {base:>12} | {ratio:>8} |"


def header(ours: str, base: str) -> list[str]:
    return [
        row("measure", ours, base, "ratio"),
        f"| {'-' * 44} | {'-' * 12} | {'-' * 12} | {'-' * 8} |",
    ]


def parse_median(hello: bytes, loops: int, runs: int) -> float:
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(loops):
            fp = Fingerprint.from_wire(parse_client_hello(hello))
            _ = (fp.ja4, fp.ja3_sorted, fp.akamai)
        results.append((time.perf_counter() - start) / loops)
    return statistics.median(results)


def handshake_median(loops: int, runs: int) -> float:
    """One TLS handshake on loopback with Python's ssl, both ends in this process."""
    endpoint = FingerprintEndpoint()
    endpoint.start()  # only for its context and certificate
    try:
        server = endpoint._context
        assert server is not None
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                try:
                    with server.wrap_socket(conn, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        results = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(loops):
                with (
                    socket.create_connection(("127.0.0.1", port)) as raw,
                    client.wrap_socket(raw, server_hostname="localhost"),
                ):
                    pass
            results.append((time.perf_counter() - start) / loops)
        stop.set()
        listener.close()
        return statistics.median(results)
    finally:
        endpoint.close()


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def page_loads(browser: Chromium, endpoint: FingerprintEndpoint) -> None:
    """The capture before API calls: two page loads, each from a fresh context."""
    assert browser.info is not None
    for _ in range(2):
        page = await browser.new_page()
        try:
            await page.set_user_agent(browser.info)
            token = endpoint.new_token()
            await page.navigate(endpoint.url(token))
            await endpoint.capture(token)
        finally:
            await page.close()


async def capture_rows(runs: int) -> list[str]:
    executable = find_chromium()
    plain: list[float] = []
    loads: list[float] = []
    captured: list[float] = []
    async with FingerprintEndpoint() as endpoint:
        for _ in range(runs):

            async def start_only() -> None:
                browser = await Chromium.launch(executable, args=endpoint.browser_args)
                await browser.close()

            plain.append(await timed(start_only))
            # Both captures in one started browser, each from fresh contexts: the
            # difference is the calls', whatever Chromium's start and exit cost.
            browser = await Chromium.launch(executable, args=endpoint.browser_args)
            try:
                loads.append(await timed(lambda b=browser: page_loads(b, endpoint)))
                captured.append(
                    await timed(lambda b=browser: capture_browser(b, endpoint, calls=api_calls()))
                )
            finally:
                await browser.close()
    a, b, c = statistics.median(captured), statistics.median(plain), statistics.median(loads)
    calls = len(api_calls()) * 2
    return [
        row("Chromium start and exit", f"{b:.2f} s", "", ""),
        row(
            f"capture: page loads + {calls} API calls",
            f"{a:.2f} s",
            f"{c:.2f} s",
            f"+{a - c:.2f} s",
        ),
    ]


async def replay_rows(runs: int) -> list[str]:
    data = json.loads(RECORDED.read_text())
    fingerprint = Fingerprint.from_dict(data["fingerprint"])
    headers = [(k, v) for k, v in fingerprint.headers if not k.startswith(":")]
    replayed = Credential(
        provider="bench",
        impersonate="chrome150",
        fingerprint=data["fingerprint"],
        browser_version="156.0.8078.79",
    )
    plain = Credential(provider="bench", impersonate="chrome150", browser_version="156")
    times: dict[str, list[float]] = {"replay": [], "plain": []}
    matches: dict[str, int] = {"replay": 0, "plain": 0}
    async with FingerprintEndpoint() as endpoint:
        with tempfile.TemporaryDirectory() as tmp:
            ca = Path(tmp) / "endpoint.pem"
            ca.write_bytes(endpoint.certificate_pem)
            for _ in range(runs):
                for name, credential in (("replay", replayed), ("plain", plain)):
                    transport = Transport(ClientConfig(), ca_bundle=ca)
                    token = endpoint.new_token()

                    async def request(
                        cred: Credential = credential, tok: str = token, via: Transport = transport
                    ) -> None:
                        async with via.request(
                            cred, "GET", endpoint.url(tok), headers=headers
                        ) as reply:
                            await reply.body()

                    times[name].append(await timed(request))
                    await transport.aclose()
                    (capture,) = await endpoint.capture(token)
                    matches[name] += capture.fingerprint.ja4 == fingerprint.ja4
    a, b = statistics.median(times["replay"]), statistics.median(times["plain"])
    return [
        row(
            "new session, first request (ms)",
            f"{a * 1000:.1f} ms",
            f"{b * 1000:.1f} ms",
            f"{a / b:.2f}x",
        ),
        row(
            "JA4 equal to the recorded browser",
            f"{matches['replay']}/{runs}",
            f"{matches['plain']}/{runs}",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hello = bytes.fromhex(json.loads(RECORDED.read_text())["hello"])
    parse = parse_median(hello, 2000, args.runs)
    handshake = handshake_median(50, args.runs)
    print(f"Fingerprint parsing, capture and replay; medians of {args.runs} runs")
    print()
    lines = header("ours", "baseline")
    lines.append(
        row(
            "parse a hello + JA4/JA3/Akamai vs TLS handshake",
            f"{parse * 1e6:.1f} µs",
            f"{handshake * 1e6:.0f} µs",
            f"{parse / handshake:.3f}x",
        )
    )
    lines += anyio.run(capture_rows, args.runs)
    print("\n".join(lines))
    print()
    print(
        "Replay of a recorded chrome131 capture on curl_cffi's chrome150 "
        "(baseline: chrome150 alone)"
    )
    print("\n".join([*header("replay", "chrome150"), *anyio.run(replay_rows, args.runs * 4)]))


if __name__ == "__main__":
    main()
