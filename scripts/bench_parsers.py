#!/usr/bin/env python3
"""What parsing cookies and event streams costs, per header, per cookie jar and per MiB.

- set-cookie: the client's ``parse_set_cookie`` on a mix of real-world headers (a
  Cloudflare ``__cf_bm``, dates in several formats, odd attributes), against the
  standard library's ``http.cookies.SimpleCookie`` (which follows no browser rule).
- cookie header: choosing a 30-cookie jar's cookies for one URL and writing the
  ``Cookie`` header, against joining the whole jar unfiltered.
- lines / events: a 1 MiB Server-Sent Events body fed in 1 KiB and 16 KiB reads,
  against ``bytes.split`` of the whole body (no incremental state at all).

    .venv/bin/python scripts/bench_parsers.py [--runs 7]

Run it from two checkouts to compare two versions: it imports the code of the
checkout it belongs to.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client._cookies import cookie_header, parse_set_cookie  # noqa: E402
from client._lines import LineDecoder  # noqa: E402
from client._sse import SSEDecoder  # noqa: E402
from storage import Cookie, Credential  # noqa: E402

NOW = 1_800_000_000.0
URL = "https://playground.ai.cloudflare.com/api/inference"
HEADERS = [
    "__cf_bm=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4; path=/; "
    "expires=Wed, 21 Oct 2026 07:58:00 GMT; domain=.ai.cloudflare.com; HttpOnly; Secure; "
    "SameSite=None",
    "cf_clearance=abcdefghijklmnopqrstuvwxyz0123456789-1700000000-1.2.1.1; Path=/; "
    "Domain=.ai.cloudflare.com; Max-Age=31536000; HttpOnly; Secure; SameSite=None",
    "session=01234567; Expires=Thursday, 21-Oct-26 07:28:00 GMT; Path=/api",
    "pref=dark; Max-Age=3600",
    "tracker=1; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/",
    "odd=2; Expires=Sun Nov  6 08:49:37 1994; SameSite=Lax; Priority=High",
    "big=" + "v" * 600 + "; Path=/; Secure",
    "cid=3; Domain=playground.ai.cloudflare.com; Path=/api/; Partitioned; Secure",
]
JAR = tuple(
    Cookie(
        f"c{i}",
        f"value{i}",
        domain=[".ai.cloudflare.com", "playground.ai.cloudflare.com", "dash.cloudflare.com"][i % 3],
        path=["/", "/api", "/other"][i % 3 if i % 2 else 0],
        expires=NOW + 3600 if i % 4 else None,
        secure=bool(i % 2),
    )
    for i in range(30)
)


def stream_body(size: int) -> bytes:
    record = (
        'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,'
        '"delta":{"content":"Ünïcode and a bit more text"},"finish_reason":null}]}\n\n'
    ).encode()
    return record * (size // len(record) + 1)


def median_seconds(work: Callable[[], object], runs: int) -> float:
    work()  # warm caches and lazy loads outside the timing
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        results.append(time.perf_counter() - start)
    return statistics.median(results)


def parse_ours(loops: int) -> Callable[[], object]:
    def work() -> object:
        for _ in range(loops):
            for header in HEADERS:
                parse_set_cookie(header, URL, now=NOW)
        return None

    return work


def parse_stdlib(loops: int) -> Callable[[], object]:
    def work() -> object:
        for _ in range(loops):
            for header in HEADERS:
                SimpleCookie().load(header)
        return None

    return work


def header_ours(loops: int) -> Callable[[], object]:
    credential = Credential("cloudflare", cookies=JAR)

    def work() -> object:
        for _ in range(loops):
            cookie_header(credential.cookies_for(URL, now=NOW))
        return None

    return work


def header_join(loops: int) -> Callable[[], object]:
    def work() -> object:
        for _ in range(loops):
            "; ".join(f"{c.name}={c.value}" for c in JAR)
        return None

    return work


def lines_ours(body: bytes, read: int) -> Callable[[], object]:
    chunks = [body[i : i + read] for i in range(0, len(body), read)]

    def work() -> object:
        decoder = LineDecoder()
        count = 0
        for chunk in chunks:
            count += len(decoder.feed(chunk))
        return count + len(decoder.close())

    return work


def events_ours(body: bytes, read: int) -> Callable[[], object]:
    chunks = [body[i : i + read] for i in range(0, len(body), read)]

    def work() -> object:
        lines, events = LineDecoder(), SSEDecoder()
        count = 0
        for chunk in chunks:
            for line in lines.feed(chunk):
                if events.feed(line) is not None:
                    count += 1
        return count

    return work


def split_whole(body: bytes) -> Callable[[], object]:
    def work() -> object:
        return len(body.decode("utf-8", "replace").split("\n"))

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = args.runs
    loops = 2000
    per_header = loops * len(HEADERS)
    body = stream_body(1 << 20)
    mib = len(body) / (1 << 20)
    rows: list[tuple[str, str, str, str]] = []

    ours = median_seconds(parse_ours(loops), runs) / per_header
    base = median_seconds(parse_stdlib(loops), runs) / per_header
    rows.append(
        ("Set-Cookie parsed (µs/header)", f"{ours * 1e6:.2f}", f"{base * 1e6:.2f}", ours / base)
    )
    ours = median_seconds(header_ours(loops), runs) / loops
    base = median_seconds(header_join(loops), runs) / loops
    rows.append(
        ("Cookie header, 30-cookie jar (µs)", f"{ours * 1e6:.2f}", f"{base * 1e6:.2f}", ours / base)
    )
    whole = median_seconds(split_whole(body), runs) / mib
    for read in (1024, 16384):
        ours = median_seconds(lines_ours(body, read), runs) / mib
        rows.append(
            (
                f"lines, {read // 1024} KiB reads (ms/MiB)",
                f"{ours * 1e3:.2f}",
                f"{whole * 1e3:.2f}",
                ours / whole,
            )
        )
        ours = median_seconds(events_ours(body, read), runs) / mib
        rows.append(
            (
                f"lines + events, {read // 1024} KiB reads (ms/MiB)",
                f"{ours * 1e3:.2f}",
                f"{whole * 1e3:.2f}",
                ours / whole,
            )
        )

    print(f"medians of {runs} runs; baselines: stdlib SimpleCookie, an unfiltered join,")
    print("the whole body decoded and split at once")
    print(f"| {'measure':<42} | {'ours':>9} | {'baseline':>9} | {'ratio':>6} |")
    print(f"| {'-' * 42} | {'-' * 9} | {'-' * 9} | {'-' * 6} |")
    for name, mine, theirs, ratio in rows:
        print(f"| {name:<42} | {mine:>9} | {theirs:>9} | {ratio:>5.2f}x |")


if __name__ == "__main__":
    main()
