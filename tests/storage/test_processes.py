"""Several processes on one store: no lost update, no lock error, crash safety. The
tests that take ``database`` run on an SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from storage import CredentialStore

WORKER = Path(__file__).with_name("_worker.py")


@contextmanager
def workers(
    *commands: list[str], database: str | Path | None = None
) -> Iterator[list[subprocess.Popen[str]]]:
    """Start workers, wait until each is ready, then let them all go at once (a DB of
    ``env`` in a command is ``database``)."""
    env = {**os.environ, "WORKER_DATABASE": str(database)} if database else None
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for command in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr and proc.stderr.read()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err  # "database is locked" would land here
        assert "locked" not in err
        outputs.append(out)
    return outputs


def _get(db: str | Path, provider: str):  # type: ignore[no-untyped-def]
    async def read():  # type: ignore[no-untyped-def]
        async with CredentialStore.open(db) as store:
            return await store.get(provider, "default")

    return anyio.run(read)


def test_two_processes_put_500_times_each_without_losing_a_write(database: str | Path) -> None:
    with workers(
        ["puts", "env", "500", "a"], ["puts", "env", "500", "b"], database=database
    ) as procs:
        finish(procs)
    cred = _get(database, "race")
    assert cred.generation == 1000
    assert cred.user_agent in {"a-499", "b-499"}


def test_two_processes_merge_500_cookies_each_with_compare_and_set(
    database: str | Path,
) -> None:
    with workers(["puts", "env", "1", "seed"], database=database) as procs:
        finish(procs)
    with workers(
        ["merges", "env", "500", "a"], ["merges", "env", "500", "b"], database=database
    ) as procs:
        finish(procs)
    cred = _get(database, "race")
    names = {c.name for c in cred.cookies}
    assert names == {f"{tag}-{i}" for tag in "ab" for i in range(500)}
    assert cred.generation == 1 + 1000


def test_lease_is_exclusive_between_two_processes(tmp_path: Path) -> None:
    db, log = tmp_path / "credentials.db", tmp_path / "lease.log"
    with workers(
        ["lease", str(db), "proc-a", "40", str(log)], ["lease", str(db), "proc-b", "40", str(log)]
    ) as procs:
        finish(procs)
    events = log.read_text().split("\n")[:-1]
    assert len(events) == 160
    # Every take is followed by the same holder's give: holds never overlap.
    for take, give in zip(events[::2], events[1::2], strict=True):
        assert take.startswith("take ")
        assert give == "give " + take.split()[1]
    assert {e.split()[1] for e in events} == {"proc-a", "proc-b"}


def test_lease_taken_over_only_after_expiry(tmp_path: Path) -> None:
    db = str(tmp_path / "credentials.db")

    def hold(holder: str, ttl: str, offset: str = "0") -> str:
        done = subprocess.run(
            [sys.executable, str(WORKER), "hold", db, holder, ttl, offset],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    assert hold("proc-a", "30") == "held"  # and the process exits without releasing
    assert hold("proc-b", "30") == "refused"
    assert hold("proc-b", "30", offset="29") == "refused"
    assert hold("proc-b", "30", offset="31") == "held"  # the clock is the only fake here


def test_twenty_client_processes_writing_back_cookies_lose_no_update(
    database: str | Path,
) -> None:
    # Coalesced write-backs by harvest from 20 processes at once: none refused, none lost.
    with workers(["puts", "env", "1", "seed"], database=database) as procs:
        finish(procs)
    commands = [["harvest-merges", "env", "25", f"w{n}"] for n in range(20)]
    with workers(*commands, database=database) as procs:
        finish(procs)
    cred = _get(database, "race")
    assert {c.name for c in cred.cookies} == {f"w{n}-{i}" for n in range(20) for i in range(25)}
    assert cred.generation == 1 + 500


def test_writer_killed_mid_write_20_times_leaves_the_database_intact(
    database: str | Path,
) -> None:
    db = database
    rng = random.Random(20)
    for _ in range(20):
        with workers(["hammer", "env"], database=db) as (proc,):
            assert proc.stdout is not None
            committed = 0
            for _ in range(rng.randint(1, 40)):
                committed = int(proc.stdout.readline())
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            # Lines it printed that were not read yet are commits too: on a busy
            # machine the writer runs ahead of this loop.
            for line in proc.stdout:
                committed = int(line)
        if isinstance(db, Path):  # SQLite's own check of the file
            with sqlite3.connect(db) as raw:
                assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        cred = _get(db, "crash")
        # The last committed write survived; at most one more committed before its print.
        last = int(cred.tokens["n"])
        assert committed <= last <= committed + 1
        assert [c.value for c in cred.cookies] == [f"{last}-{j}" for j in range(20)]


def test_four_processes_creating_one_new_database_at_once(tmp_path: Path) -> None:
    # Regression (issue 2): switching a new file to WAL reports "locked" without waiting.
    db = tmp_path / "new" / "credentials.db"
    with workers(*(["puts", str(db), "1", tag] for tag in "abcd")) as procs:
        finish(procs)
    assert _get(db, "race").generation == 4
