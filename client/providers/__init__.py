"""The built-in provider adapters: importing this package registers them."""

from __future__ import annotations

from . import cloudflare

__all__ = ["cloudflare"]
