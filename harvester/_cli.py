"""The ``harvest`` command line (also ``python -m harvester``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from client import ClientError, Config, load_config
from storage import CredentialStore, StorageError

from ._status import status_json, status_table

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
        code: int = anyio.run(args.command, config, args)
    except (ClientError, StorageError) as exc:
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
