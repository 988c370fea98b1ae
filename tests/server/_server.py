"""``harvest serve`` as a subprocess on the rig, and raw HTTP to it.

The server gets a temporary directory of its own (its Chromium profiles are made
there), so its browser is checked when the server stops, not after each test that
happens to run while it lives.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..harvester._procs import PROFILE_PREFIX, chromium_processes
from ..providers._cli import ROOT

LISTENING = re.compile(r"serving the OpenAI API on (http://\S+)/v1")


class ServerProcess:
    """One ``harvest serve --port 0 ARGS`` (or another ``command``, such as a daemon);
    ``url`` is its base (``http://host:port``)."""

    def __init__(
        self, env: dict[str, str], *args: str, command: tuple[str, ...] = ("serve", "--port", "0")
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="serve-"))
        self.env = {**env, "TMPDIR": str(self.tmp)}
        self.args = [*command, *args]
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, within: float = 60, ready: re.Pattern[str] = LISTENING) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harvester", *self.args],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for(ready, within)
        match = LISTENING.search(line)
        self.url = match.group(1) if match is not None else ""
        return self

    def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str | re.Pattern[str], within: float = 60) -> str:
        """The first output line matching ``pattern`` (waiting for it)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                assert self.process is not None
                if self.process.poll() is not None and not self._pending():
                    raise AssertionError(f"the server exited: {''.join(self.lines)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {regex.pattern!r} in: {''.join(self.lines)}")
                self._changed.wait(min(left, 0.5))

    def _pending(self) -> bool:
        assert self.process is not None
        assert self.process.stdout is not None
        return not self.process.stdout.closed and self.process.returncode is None

    def wait_fresh(self, providers: list[str], within: float = 180) -> dict[str, Any]:
        """``/readyz`` once every one of ``providers`` has a fresh credential."""
        deadline = time.monotonic() + within
        while True:
            status, _, body = self.request("GET", "/readyz")
            ready = json.loads(body)
            if status == 200 and all(ready["providers"][p]["fresh"] for p in providers):
                return dict(ready)
            assert time.monotonic() < deadline, (ready, self.output)
            time.sleep(0.2)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP/1.1 exchange: status, headers (lower-case names), body."""
        connection = self._connection()
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            connection.request(method, path, body=data, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        assert parts.hostname is not None
        assert parts.port is not None
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)

    def stream(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A chat request whose answer the caller reads (and closes) itself."""
        connection = self._connection()
        connection.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )
        return connection, connection.getresponse()

    def chromium(self) -> list[int]:
        """The server's live Chromium processes."""
        return list(chromium_processes(self.tmp / PROFILE_PREFIX))

    def stop(self, sig: int = signal.SIGTERM, within: float = 40) -> int:
        """Signal the server and wait for it; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server did not stop: {self.output}") from None

    def close(self) -> None:
        """Kill what is left (a failed test's server and its browser) and close pipes."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
        for pid in self.chromium():
            os.kill(pid, signal.SIGKILL)


def sse_data(raw: bytes) -> Iterator[str]:
    """The ``data`` of each event of an SSE body (frames end with a blank line)."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-200:]
    for frame in text.split("\n\n")[:-1]:
        lines = frame.split("\n")
        assert all(line.startswith("data: ") for line in lines), frame
        yield "\n".join(line[len("data: ") :] for line in lines)
