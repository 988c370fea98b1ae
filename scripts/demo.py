"""``make demo``: the whole product once, offline, on this machine.

It starts the emulated Cloudflare AI playground behind a local CONNECT proxy (the real
host name, real TLS with a throwaway CA), harvests it with real Chromium through
``harvest refresh``, streams an answer with ``harvest chat``, shows ``harvest status``
and removes everything it made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulators.rig import Rig  # noqa: E402

PROMPT = "What does session-harvest do?"


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def harvest(*args: str, env: dict[str, str], progress: str | None = None) -> int:
    """Run the ``harvest`` command; with ``progress``, tick while it works."""
    command = [sys.executable, "-m", "harvester", *args]
    print("$ harvest " + " ".join(f'"{a}"' if " " in a else a for a in args), flush=True)
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    if progress is not None:
        done = threading.Event()

        def tick() -> None:
            started = time.monotonic()
            while not done.wait(1.0):
                elapsed = time.monotonic() - started
                print(f"   ... {progress} ({elapsed:.0f}s)", file=sys.stderr, flush=True)

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            return process.wait()
        finally:
            done.set()
            ticker.join()
    return process.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="session-harvest-demo-") as directory:
        work = Path(directory)
        step("Starting the emulated Cloudflare AI playground behind a local CONNECT proxy")
        rig = Rig(work / "rig").start()
        try:
            rig.cloudflare.state.chunk_delay = 0.04  # so the streaming is visible
            config = work / "harvest.toml"
            config.write_text(rig.toml(work / "credentials.db"))
            env = {k: v for k, v in os.environ.items() if k != "HARVEST_DB"}
            env["HARVEST_CONFIG"] = str(config)
            print(f"playground.ai.cloudflare.com -> {rig.proxy.url} (TLS from a throwaway CA)")
            print(f"config: {config}")

            step("Harvesting it with real Chromium (challenge page, clearance cookie, headers)")
            if harvest("refresh", "cloudflare", env=env, progress="Chromium is on the page"):
                print("demo: the harvest failed (see above)", file=sys.stderr)
                return 1

            step("Streaming an answer with the harvested session (curl_cffi, no browser)")
            code = harvest("chat", "-p", "cloudflare", "-m", "llama-3.3-70b", PROMPT, env=env)
            if code:
                print("demo: the chat failed (see above)", file=sys.stderr)
                return 1

            step("What the store holds now (never a cookie value)")
            harvest("status", env=env)
        finally:
            rig.stop()
        step("Done: the emulator, the proxy and the demo's files are gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
