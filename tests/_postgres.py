"""A throwaway PostgreSQL cluster for the tests: ``initdb`` in a temporary directory, a
free loopback port, a user with a password (SCRAM), no system service.

PostgreSQL refuses to run as root, so as root the cluster runs as Debian's ``postgres``
system user (the package makes it). The server gets a parent-death signal: a killed
test run leaves no server behind. Its password is handed over in a file, never on a
command line.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["PostgresCluster", "PostgresMissing"]

USER = "harvest"
DATABASE = "harvest"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class PostgresMissing(RuntimeError):
    """No PostgreSQL server programs on this machine."""


def _bin_dir() -> Path:
    """The directory with every server program: Debian's, else where ``initdb`` is
    found (resolved: a machine may link some of them onto PATH)."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "pg_isready").exists():
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise PostgresMissing(
            "no PostgreSQL server programs (initdb); `make install` installs Debian's "
            "postgresql package"
        )
    return versions[-1].parent


class PostgresCluster:
    """``PostgresCluster().start()``; ``url`` (with the password) and ``stop()``, which
    also removes the cluster's directory."""

    def __init__(self) -> None:
        # In /tmp itself: the test run's own directory is private to root, and the
        # server's user must reach its data directory.
        self.directory = Path(tempfile.mkdtemp(prefix="session-harvest-pg-", dir="/tmp"))
        self.bin = _bin_dir()
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.port = 0
        self._server: subprocess.Popen[bytes] | None = None
        self._as: tuple[int, int] | None = None  # (uid, gid) to run as, when we are root
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            self._as = (user.pw_uid, user.pw_gid)

    def url(self, database: str = DATABASE, *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{database}"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def start(self, within: float = 60.0) -> PostgresCluster:
        """initdb, start the server, make the database (blocking)."""
        sockets = self.directory / "sockets"
        sockets.mkdir(exist_ok=True)
        secret = self.directory / "password"
        secret.write_text(self.password)
        secret.chmod(0o600)
        if self._as is not None:
            for path in (self.directory, sockets, secret):
                os.chown(path, *self._as)
        self._run(
            "initdb",
            f"--pgdata={self.data}",
            f"--username={USER}",
            f"--pwfile={secret}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        secret.unlink()
        self.port = _free_port()
        log = (self.directory / "server.log").open("ab")
        self._server = subprocess.Popen(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=self._child(os.getpid()),
        )
        log.close()
        deadline = time.monotonic() + within
        while self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False):
            if self._server.poll() is not None or time.monotonic() > deadline:
                tail = (self.directory / "server.log").read_text(errors="replace")[-600:]
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start: {tail}")
            time.sleep(0.1)
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)
        return self

    def create_database(self, name: str) -> str:
        """A new, empty database (blocking); its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown (SIGINT), then SIGKILL if it lingers; the directory goes."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> int:
        env = {**os.environ, "PGPASSWORD": self.password, "LC_ALL": "C.UTF-8"}
        done = subprocess.run(
            [str(self.bin / program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            cwd=self.directory,
            preexec_fn=self._child(os.getpid()),
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.decode(errors='replace')[-600:]}")
        return done.returncode

    def _child(self, parent: int) -> Callable[[], None]:
        ids = self._as

        def become() -> None:
            if ids is not None:
                os.setgid(ids[1])
                os.setuid(ids[0])
            # After the change of user: a change of credentials clears the signal.
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(1)

        return become


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
