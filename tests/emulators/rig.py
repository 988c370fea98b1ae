"""The test rig: emulators on TLS behind the CONNECT proxy, and configs that use them.

Run as ``python -m tests.emulators.rig DIR`` it serves until stdin closes (or it is
killed) and prints (and writes to ``DIR/rig.json``) the proxy URL and the CA file: the
benchmarks use it that way, so the servers do not share a process with what is measured.
SIGUSR1 makes it write the tunnels each host got so far to ``DIR/connects.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from client import BrowserConfig, Config, NetworkConfig
from client.providers import provider_names

from ._asgi import Server, TLSFiles
from ._base import Emulator
from .proxy import ConnectProxy

# The browser accepts the rig's certificates; the client trusts the rig's CA instead.
BROWSER_ARGS = ("--ignore-certificate-errors",)


def emulator_class(provider: str) -> type[Emulator[Any]]:
    """The emulator of a built-in provider: the class in ``tests/emulators/NAME.py``
    whose ``provider`` is NAME."""
    module = importlib.import_module(f"{__package__}.{provider}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Emulator) and value.provider == provider:
            return value
    raise LookupError(f"tests/emulators/{provider}.py has no Emulator for {provider!r}")


def _every_emulator() -> dict[str, Emulator[Any]]:
    return {name: emulator_class(name)() for name in provider_names()}


@dataclass
class Rig:
    """Every provider's emulator behind one proxy, with a throwaway CA made in
    ``directory``; ``rig.NAME`` is provider NAME's emulator."""

    directory: Path
    by_provider: dict[str, Emulator[Any]] = field(default_factory=_every_emulator)
    proxy: ConnectProxy = field(default_factory=ConnectProxy)
    ca_file: Path = field(init=False)
    _servers: list[Server] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: a provider's emulator.
        emulators = self.__dict__.get("by_provider", {})
        if name in emulators:
            return emulators[name]
        raise AttributeError(name)

    def start(self) -> Rig:
        self.directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        self.ca_file = self.directory / "rig-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        emulators = self.emulators
        cert = ca.issue_cert(*(host for e in emulators for host in e.hosts))
        tls = TLSFiles(self.directory / "rig-cert.pem", self.directory / "rig-key.pem")
        cert.cert_chain_pems[0].write_to_path(str(tls.certfile))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(tls.certfile), append=True)
        cert.private_key_pem.write_to_path(str(tls.keyfile))
        self.proxy.start()
        for emulator in emulators:
            # A site may bind its clearance to the JA4 the edge (here: the proxy) saw.
            emulator.ja4_of = self.proxy.ja4_for
            server = Server(emulator, tls).start()
            self._servers.append(server)
            for host in emulator.hosts:
                self.proxy.routes[host] = server.port
        return self

    @property
    def emulators(self) -> list[Emulator[Any]]:
        return list(self.by_provider.values())

    def stop(self) -> None:
        self.proxy.stop()
        for server in self._servers:
            server.stop()

    def config(self, database: Path | str, chromium: str | None = None) -> Config:
        """A config that reaches the emulators under the real host names."""
        return Config(
            database=database,
            browser=BrowserConfig(
                executable=Path(chromium) if chromium else None, args=BROWSER_ARGS
            ),
            network=NetworkConfig(proxy=self.proxy.url, ca_bundle=self.ca_file),
        )

    def toml(
        self,
        database: Path,
        chromium: str | None = None,
        *,
        headless: bool = True,
        **tables: dict[str, Any],
    ) -> str:
        """The same config as TOML (for the command line), plus extra tables."""
        lines = [f"database = {json.dumps(str(database))}", "[browser]"]
        if chromium:
            lines.append(f"executable = {json.dumps(chromium)}")
        if not headless:
            lines.append("headless = false")
        lines += [
            f"args = {json.dumps(list(BROWSER_ARGS))}",
            "[network]",
            f"proxy = {json.dumps(self.proxy.url)}",
            f"ca_bundle = {json.dumps(str(self.ca_file))}",
        ]
        for name, values in tables.items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the emulators behind the proxy.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--chunk-delay", type=float, default=0.01, help="seconds between pieces")
    parser.add_argument(
        "--whole-records", action="store_true", help="one piece per record, not split"
    )
    args = parser.parse_args()
    directory: Path = args.directory
    rig = Rig(directory).start()
    for emulator in rig.emulators:
        emulator.state.keep_requests = False
        emulator.state.chunk_delay = args.chunk_delay
        emulator.state.split = not args.whole_records
    info = {"proxy": rig.proxy.url, "ca_file": str(rig.ca_file)}
    (directory / "rig.json").write_text(json.dumps(info))

    def report(_signal: int, _frame: object) -> None:
        # SIGUSR1: how many tunnels (TCP + TLS handshakes) each host got so far.
        counts = {host: rig.proxy.connects.count(host) for host in set(rig.proxy.connects)}
        (directory / "connects.json").write_text(json.dumps(counts))

    signal.signal(signal.SIGUSR1, report)
    print(json.dumps(info), flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin or exits
    finally:
        rig.stop()


if __name__ == "__main__":
    main()
