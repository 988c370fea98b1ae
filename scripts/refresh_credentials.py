#!/usr/bin/env python3
"""Harvest credentials now, for cron: what `harvest refresh` does.

Example crontab line (every 30 minutes, output kept in a log):

    */30 * * * * /path/to/session-harvest/.venv/bin/python \\
        /path/to/session-harvest/scripts/refresh_credentials.py >> ~/harvest.log 2>&1
"""

from __future__ import annotations

import argparse
import sys

from harvester import main

EPILOG = """exit status:
  0  every credential was harvested
  1  at least one harvest failed (each failure has its own line), or the
     database or browser could not be used
  2  a usage or configuration error (e.g. an unknown provider)
"""


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Harvest credentials now, one line per credential "
        "(ok/failed, duration, expiry). Same as `harvest refresh`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("providers", nargs="*", metavar="PROVIDER", help="default: all enabled")
    parser.add_argument("--profile", metavar="P", help="only this profile")
    parser.add_argument("--config", metavar="PATH", help="TOML config (default: $HARVEST_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    args = parser.parse_args(argv)
    forwarded = ["--config", args.config] if args.config else []
    if args.verbose:
        forwarded.append("-v")
    forwarded += ["refresh", *args.providers]
    if args.profile:
        forwarded += ["--profile", args.profile]
    return main(forwarded)


if __name__ == "__main__":
    sys.exit(run())
