"""The harvester: drives a real Chromium to collect working credentials."""

from __future__ import annotations

from ._app import AnnouncedRefresher, App
from ._cli import main
from ._errors import (
    BrowserFailed,
    BrowserNotFound,
    DaemonRunning,
    HarvestBusy,
    HarvestError,
    HarvestTimeout,
    PageError,
    ProxyFailed,
)
from ._harvester import Harvester

__all__ = [
    "AnnouncedRefresher",
    "App",
    "BrowserFailed",
    "BrowserNotFound",
    "DaemonRunning",
    "HarvestBusy",
    "HarvestError",
    "HarvestTimeout",
    "Harvester",
    "PageError",
    "ProxyFailed",
    "main",
]
