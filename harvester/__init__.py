"""The harvester: drives a real Chromium to collect working credentials."""

from __future__ import annotations

from ._cli import main

__all__ = ["main"]
