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
from ._errors import ClientError, ConfigError, UnknownProvider
from ._recipe import HarvestRecipe, Ready, Token
from ._registry import provider_names, recipe_for, recipes, register_recipe
from ._transport import impersonate_target

__all__ = [
    "BrowserConfig",
    "ClientError",
    "Config",
    "ConfigError",
    "HarvestRecipe",
    "HarvesterConfig",
    "NetworkConfig",
    "ProviderConfig",
    "Ready",
    "Token",
    "UnknownProvider",
    "default_database",
    "impersonate_target",
    "load_config",
    "parse_duration",
    "provider_names",
    "recipe_for",
    "recipes",
    "register_recipe",
]
