"""The built-in provider adapters: importing this package registers them."""

from __future__ import annotations

from . import cloudflare, flowgpt, freenetfly, g4f_space

__all__ = ["cloudflare", "flowgpt", "freenetfly", "g4f_space"]
