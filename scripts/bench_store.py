#!/usr/bin/env python3
"""Benchmark the credential store on a real database file (and on PostgreSQL).

Measures ``get`` latency (median and p99), and ``put`` and ``merge_cookies``
throughput from one process and from two processes writing at once. Each figure is
the median of several runs; the baseline is the same work done with the standard
library's synchronous ``sqlite3`` in the same run, so the ratio is the store's own
overhead (aiosqlite's thread hop, the lock, JSON, the dataclasses).

A second table puts the two engines side by side in the same run (``--engines``, on by
default): SQLite against PostgreSQL on a throwaway local cluster (``tests/_postgres.py``,
so the server programs must be installed), get p50/p99, and put and write-back
(``merge_cookies`` by harvest, as clients coalesce them) throughput from 1, 2 and 8
processes.

    .venv/bin/python scripts/bench_store.py [--runs 5] [--ops 1000] [--no-engines]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from storage import Cookie, Credential, CredentialStore, is_database_url
from storage._store import _encode_body

PROVIDERS = ("cloudflare", "flowgpt", "freenetfly", "g4f_space")
PROFILES = tuple(f"p{i}" for i in range(5))


def credential(provider: str, profile: str, n: int = 0) -> Credential:
    """A credential the size of a real one: a dozen headers, ten cookies, two tokens."""
    return Credential(
        provider=provider,
        profile=profile,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0.0.0",
        browser_name="Chromium",
        browser_version="156.0.8078.79",
        fingerprint={"ja4": "t13d1517h2_8daaf6152771_cb7bf5808d99", "grease": True},
        impersonate="chrome150",
        headers=tuple((f"x-header-{i}", "v" * 40) for i in range(12)),
        cookies=tuple(
            Cookie(f"c{i}", f"{n}-{i}-" + "x" * 60, ".example.com", expires=time.time() + 3600)
            for i in range(10)
        ),
        tokens={"token": "t" * 200, "uuid": "u" * 36},
        harvested_at=time.time(),
        expires_at=time.time() + 3600,
    )


# -- one process ---------------------------------------------------------------------


async def seed(db: Path | str) -> None:
    async with CredentialStore.open(db) as store:
        for provider in PROVIDERS:
            for profile in PROFILES:
                await store.put(credential(provider, profile))


async def get_latencies(db: Path | str, ops: int, profile: str | None) -> list[float]:
    async with CredentialStore.open(db) as store:
        times = []
        for i in range(ops):
            start = time.perf_counter()
            await store.get(PROVIDERS[i % 4], profile)
            times.append(time.perf_counter() - start)
    return times


def baseline_get_latencies(db: Path, ops: int) -> list[float]:
    conn = sqlite3.connect(db, isolation_level=None)
    times = []
    for i in range(ops):
        start = time.perf_counter()
        row = conn.execute(
            "SELECT body FROM credentials WHERE provider = ? AND profile = ?",
            (PROVIDERS[i % 4], "p0"),
        ).fetchone()
        json.loads(row[0])
        times.append(time.perf_counter() - start)
    conn.close()
    return times


async def puts(db: Path | str, ops: int, profile: str) -> float:
    cred = credential("cloudflare", profile)
    async with CredentialStore.open(db) as store:
        start = time.perf_counter()
        for _ in range(ops):
            await store.put(cred)
        return time.perf_counter() - start


async def harvest_merges(db: Path | str, ops: int, profile: str) -> float:
    """Write-backs by harvest (the client's coalesced path): never refused for another
    writer's write-back."""
    async with CredentialStore.open(db) as store:
        current = await store.get("flowgpt", profile)
        if current is None:
            current = await store.put(credential("flowgpt", profile))
        start = time.perf_counter()
        for i in range(ops):
            cookie = Cookie("__cf_bm", f"rotated-{i}", ".example.com")
            assert await store.merge_cookies(
                "flowgpt", profile, [cookie], harvested_at=current.harvested_at
            )
        return time.perf_counter() - start


async def merges(db: Path, ops: int, profile: str) -> float:
    async with CredentialStore.open(db) as store:
        current = await store.put(credential("flowgpt", profile))
        generation = current.generation
        start = time.perf_counter()
        for i in range(ops):
            cookie = Cookie("__cf_bm", f"rotated-{i}", ".example.com")
            while not await store.merge_cookies(
                "flowgpt", profile, [cookie], generation=generation
            ):
                fresh = await store.get("flowgpt", profile)
                assert fresh is not None
                generation = fresh.generation
            generation += 1
        return time.perf_counter() - start


def baseline_puts(db: Path, ops: int, profile: str) -> float:
    # The same bytes the store writes, encoded once: the baseline is SQLite's own cost.
    body = _encode_body(credential("baseline", profile))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    for _ in range(ops):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO credentials (provider, profile, generation, status, harvested_at,"
            " updated_at, body) VALUES ('baseline', ?, 1, 'fresh', 0, 0, ?)"
            " ON CONFLICT (provider, profile) DO UPDATE SET generation = generation + 1,"
            " body = excluded.body",
            (profile, body),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


# -- two processes -------------------------------------------------------------------

WORKERS: dict[str, Callable[..., float]] = {
    "put": lambda db, ops, profile: anyio.run(puts, db, ops, profile),
    "harvest-merge": lambda db, ops, profile: anyio.run(harvest_merges, db, ops, profile),
    "merge": lambda db, ops, profile: anyio.run(merges, db, ops, profile),
    "baseline-put": baseline_puts,
}


def two_processes(kind: str, db: Path, ops: int, same_profile: bool) -> float:
    """Aggregate ops/s of two processes doing ``ops`` writes each, started together."""
    return processes(kind, db, ops, 2, same_profile)


def processes(kind: str, db: Path | str, ops: int, count: int, same_profile: bool) -> float:
    """Aggregate ops/s of ``count`` processes doing ``ops`` writes each, started
    together (a URL reaches them in the environment, never on a command line)."""
    env = {**os.environ, "BENCH_DATABASE": str(db)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                kind,
                "env",
                str(ops),
                "shared" if same_profile else f"w{i}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=600)
        if proc.returncode:
            raise SystemExit(f"worker failed with exit code {proc.returncode}")
    return count * ops / (time.perf_counter() - start)


def worker_main(kind: str, db: str, ops: str, profile: str) -> None:
    place = os.environ["BENCH_DATABASE"] if db == "env" else db
    database: Path | str = place if is_database_url(place) else Path(place)
    print("ready", flush=True)
    sys.stdin.readline()
    WORKERS[kind](database, int(ops), profile)


# -- the table -----------------------------------------------------------------------


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--ops", type=int, default=1000, help="operations per run")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-engines", action="store_true", help="skip the SQLite-against-PostgreSQL table"
    )
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    baseline_table(args.runs, args.ops)
    if not args.no_engines:
        engines_table(args.runs, args.ops)


async def notify_latencies(db: Path | str, count: int) -> list[float]:
    """Seconds from one store's put to another store's announcement of it."""
    async with CredentialStore.open(db) as writer, CredentialStore.open(db) as reader:
        heard = anyio.Event()

        def on_change(_provider: str, _profile: str) -> None:
            heard.set()

        if not await reader.listen(on_change):
            return []
        times = []
        for n in range(count):
            heard = anyio.Event()
            start = time.perf_counter()
            await writer.put(credential("cloudflare", "notify", n))
            with anyio.fail_after(10):
                await heard.wait()
            times.append(time.perf_counter() - start)
        return times


def engines_table(runs: int, ops: int) -> None:
    """The same work on each engine, side by side."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests._postgres import PostgresCluster

    cluster = PostgresCluster().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
            places: dict[str, Path | str] = {
                "sqlite": Path(tmp) / "credentials.db",
                "postgres": cluster.create_database("bench"),
            }
            figures: dict[str, dict[str, float]] = {}
            for engine, db in places.items():
                print(f"  engine {engine}...", file=sys.stderr, flush=True)
                anyio.run(seed, db)
                got = [anyio.run(get_latencies, db, ops, "p0") for _ in range(runs)]
                row = figures.setdefault(engine, {})
                row["get p50 (us)"] = statistics.median(statistics.median(r) for r in got) * 1e6
                row["get p99 (us)"] = statistics.median(p99(r) for r in got) * 1e6
                heard = anyio.run(notify_latencies, db, 200)
                row["put to another client's notice, p50 (ms)"] = (
                    statistics.median(heard) * 1e3 if heard else math.nan
                )
                for count in (1, 2, 8):
                    each = max(ops // count, 50)
                    row[f"put, {count} process(es) (ops/s)"] = statistics.median(
                        processes("put", db, each, count, False) for _ in range(runs)
                    )
                    row[f"write-back, {count} process(es), one profile (ops/s)"] = (
                        statistics.median(
                            processes("harvest-merge", db, each, count, True) for _ in range(runs)
                        )
                    )
    finally:
        cluster.stop()
    print()
    print(
        f"bench_store engines: {runs} runs x {ops} ops (split over the processes), medians;"
        " PostgreSQL 15 on loopback, default settings (fsync on); ratio = postgres / sqlite"
    )
    names = list(figures["sqlite"])
    width = max(len(n) for n in names)
    print(f"{'measure':<{width}}  {'sqlite':>10}  {'postgres':>10}  {'ratio':>6}")
    for name in names:
        one, other = figures["sqlite"][name], figures["postgres"][name]
        if math.isnan(one):  # SQLite announces nothing: its clients poll
            print(f"{name:<{width}}  {'(polls)':>10}  {other:>10,.2f}  {'':>6}")
            continue
        print(f"{name:<{width}}  {one:>10,.1f}  {other:>10,.1f}  {other / one:>5.2f}x")


def baseline_table(runs: int, ops: int) -> None:
    """The store against plain sqlite3 on one file."""

    rows: list[tuple[str, str, str, str]] = []

    def row(name: str, ours: float, base: float | None, unit: str, *, rate: bool = False) -> None:
        # The ratio compares times either way (>1 means slower): for rates it is inverted.
        ratio = "" if base is None else f"{(base / ours if rate else ours / base):.2f}x"
        rows.append(
            (name, f"{ours:,.1f} {unit}", "" if base is None else f"{base:,.1f} {unit}", ratio)
        )
        print(f"  measured {name}", file=sys.stderr, flush=True)

    def micros(samples: list[list[float]], stat: Callable[[list[float]], float]) -> float:
        """``stat`` of each run's latencies, median over the runs, in microseconds."""
        return statistics.median(stat(run) for run in samples) * 1e6

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        db = Path(tmp) / "credentials.db"
        anyio.run(seed, db)

        def median_of(measure: Callable[[], float]) -> float:
            return statistics.median(measure() for _ in range(runs))

        latencies = [anyio.run(get_latencies, db, ops, "p0") for _ in range(runs)]
        baseline = [baseline_get_latencies(db, ops) for _ in range(runs)]
        best = [anyio.run(get_latencies, db, ops, None) for _ in range(runs)]
        median = statistics.median
        row(
            "get(provider, profile) median",
            micros(latencies, median),
            micros(baseline, median),
            "us",
        )
        row("get(provider, profile) p99", micros(latencies, p99), micros(baseline, p99), "us")
        row("get(provider) best fresh median", micros(best, median), None, "us")
        row("get(provider) best fresh p99", micros(best, p99), None, "us")

        base_put = median_of(lambda: ops / baseline_puts(db, ops, "b"))
        row(
            "put, 1 process",
            median_of(lambda: ops / anyio.run(puts, db, ops, "one")),
            base_put,
            "ops/s",
            rate=True,
        )
        row(
            "merge_cookies, 1 process",
            median_of(lambda: ops / anyio.run(merges, db, ops, "one")),
            base_put,
            "ops/s",
            rate=True,
        )
        base_put2 = median_of(lambda: two_processes("baseline-put", db, ops, False))
        row(
            "put, 2 processes (own profiles)",
            median_of(lambda: two_processes("put", db, ops, False)),
            base_put2,
            "ops/s",
            rate=True,
        )
        row(
            "put, 2 processes (one profile)",
            median_of(lambda: two_processes("put", db, ops, True)),
            base_put2,
            "ops/s",
            rate=True,
        )
        row(
            "merge_cookies, 2 processes (own profiles)",
            median_of(lambda: two_processes("merge", db, ops, False)),
            base_put2,
            "ops/s",
            rate=True,
        )
        row(
            "merge_cookies, 2 processes (one profile, CAS)",
            median_of(lambda: two_processes("merge", db, ops, True)),
            base_put2,
            "ops/s",
            rate=True,
        )

    header = ("measure", "session-harvest", "baseline (sqlite3)", "ratio")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    print(
        f"bench_store: {runs} runs x {ops} ops, medians; ratio = time ours / time baseline;"
        f" {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}"
    )
    for r in (header, tuple("-" * w for w in widths), *rows):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
