"""The ``harvest`` command line (also ``python -m harvester``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from client import ClientError, Config, load_config
from storage import CredentialStore, StorageError

from ._daemon import Daemon
from ._errors import HarvestError
from ._harvester import Harvester, expiry_text
from ._status import status_json, status_table

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    # The daemon logs each harvest; other commands print their own progress lines.
    quiet = logging.INFO if args.command is _daemon else logging.ERROR
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else quiet,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
        code: int = anyio.run(args.command, config, args)
    except (ClientError, StorageError, HarvestError) as exc:
        print(f"harvest: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ClientError) else 1
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harvest",
        description="Keep working browser sessions for web AI providers.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="TOML config file (default: $HARVEST_CONFIG)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status",
        help="show the stored credentials (never a secret)",
        description="One row per credential: provider, profile, status, harvested, "
        "expires, browser version, last error. Cookie values and tokens are never shown.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(command=_status)

    refresh = commands.add_parser(
        "refresh",
        help="harvest now",
        description="Harvest the given providers (default: every enabled one) now, one "
        "line per credential as each finishes. Exit status: 0 if all succeeded, 1 if any "
        "failed, 2 for a usage or configuration error.",
    )
    refresh.add_argument("providers", nargs="*", metavar="PROVIDER")
    refresh.add_argument(
        "--profile", metavar="P", help="harvest only this profile (default: the configured ones)"
    )
    refresh.set_defaults(command=_refresh)

    daemon = commands.add_parser(
        "daemon",
        help="keep credentials fresh until SIGINT/SIGTERM",
        description="Refresh every enabled provider's profiles before they expire and "
        "serve clients' refresh requests, until SIGINT or SIGTERM. One daemon per database.",
    )
    daemon.set_defaults(command=_daemon)
    return parser


async def _status(config: Config, args: argparse.Namespace) -> int:
    if not await anyio.Path(config.database).exists():
        # Don't create an empty database just to say it is empty.
        if args.json:
            print("[]")
        else:
            print(f"no credentials yet in {config.database}; run `harvest refresh` to make some")
        return 0
    async with CredentialStore.open(config.database) as store:
        credentials = await store.list()
    print(status_json(credentials) if args.json else status_table(credentials))
    return 0


async def _refresh(config: Config, args: argparse.Namespace) -> int:
    harvester = Harvester(config)
    names = args.providers or [
        name for name in harvester.provider_names() if config.provider(name).enabled
    ]
    for name in names:
        harvester.recipe(name)  # UnknownProvider lists the valid names
    jobs = [
        (name, profile)
        for name in names
        for profile in ([args.profile] if args.profile else config.provider(name).profiles)
    ]
    if not jobs:
        print("harvest: no enabled providers to refresh", file=sys.stderr)
        return 2
    failed = 0

    async def one(provider: str, profile: str) -> None:
        nonlocal failed
        started = anyio.current_time()
        name = f"{provider}/{profile}"
        try:
            credential = await harvester.refresh(provider, profile)
        except HarvestError as exc:
            failed += 1
            outcome, detail = "failed", str(exc)
        else:
            outcome, detail = "ok", expiry_text(credential.expires_at, harvester.now())
        took = anyio.current_time() - started
        print(f"{outcome:<7} {name:<24} {took:6.1f}s  {detail}", flush=True)

    async with harvester, anyio.create_task_group() as group:
        for provider, profile in jobs:
            group.start_soon(one, provider, profile)
    return 1 if failed else 0


async def _daemon(config: Config, args: argparse.Namespace) -> int:
    async with Harvester(config) as harvester:
        await Daemon(harvester, config).run()
    return 0
