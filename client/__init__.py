"""The light client: reads a credential and talks to the provider as its browser did."""

from __future__ import annotations

from ._config import (
    BrowserConfig,
    Config,
    HarvesterConfig,
    NetworkConfig,
    ProviderConfig,
    default_database,
    load_config,
    parse_duration,
)
from ._errors import ClientError, ConfigError

__all__ = [
    "BrowserConfig",
    "ClientError",
    "Config",
    "ConfigError",
    "HarvesterConfig",
    "NetworkConfig",
    "ProviderConfig",
    "default_database",
    "load_config",
    "parse_duration",
]
