"""The only module that imports curl_cffi.

For now it answers one question for the harvester: which curl_cffi impersonation
target fits a browser version.
"""

from __future__ import annotations

import re

from curl_cffi.requests import BrowserType

__all__ = ["chrome_targets", "impersonate_target"]

_CHROME_TARGET = re.compile(r"chrome(\d+)")


def chrome_targets() -> list[tuple[int, str]]:
    """curl_cffi's desktop Chrome targets as (major, name), oldest first."""
    found: dict[int, str] = {}
    for member in BrowserType:
        match = _CHROME_TARGET.fullmatch(member.value)
        if match:  # "chrome133a" and "chrome131_android" are variants, not the plain target
            found[int(match.group(1))] = member.value
    return sorted(found.items())


def impersonate_target(major: int) -> str:
    """The newest Chrome target not newer than ``major`` (the oldest if all are newer)."""
    targets = chrome_targets()
    fitting = [name for number, name in targets if number <= major]
    return fitting[-1] if fitting else targets[0][1]
