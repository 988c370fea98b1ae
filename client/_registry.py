"""Which providers exist: their names and harvest recipes.

Provider modules register themselves here; the harvester and the CLI look them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._errors import UnknownProvider
from ._recipe import HarvestRecipe

__all__ = ["provider_names", "recipe_for", "recipes", "register_recipe"]

_RECIPES: dict[str, HarvestRecipe] = {}


def register_recipe(name: str, recipe: HarvestRecipe) -> None:
    """Make ``name`` known with its harvest recipe (a later call replaces it)."""
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"provider names are lower-case letters, digits and _: {name!r}")
    _RECIPES[name] = recipe


def recipes() -> Mapping[str, HarvestRecipe]:
    """Every registered recipe by provider name (read-only)."""
    return MappingProxyType(_RECIPES)


def provider_names() -> list[str]:
    """The registered provider names, sorted."""
    return sorted(_RECIPES)


def recipe_for(name: str, known: Mapping[str, HarvestRecipe] | None = None) -> HarvestRecipe:
    """The recipe of ``name``; ``UnknownProvider`` (listing the valid names) if none."""
    table = _RECIPES if known is None else known
    try:
        return table[name]
    except KeyError:
        raise UnknownProvider(name, sorted(table)) from None
