"""Which providers exist: their adapter classes and harvest recipes.

Provider modules register their class with ``@register_provider``; the harvester, the
CLI and the client look them up here. ``register_recipe`` adds a harvest-only entry (a
site to keep a session for, with no chat adapter), as the tests' protected site is.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from ._errors import UnknownProvider
from ._provider import Provider, check_provider_class
from ._recipe import HarvestRecipe

__all__ = [
    "provider_class",
    "provider_names",
    "recipe_for",
    "recipes",
    "register_provider",
    "register_recipe",
]

_P = TypeVar("_P", bound=type[Provider])

_PROVIDERS: dict[str, type[Provider]] = {}
_RECIPES: dict[str, HarvestRecipe] = {}


def register_provider(cls: _P) -> _P:
    """Class decorator: make a provider adapter known (a later one replaces it)."""
    check_provider_class(cls)
    _PROVIDERS[cls.name] = cls
    _RECIPES.pop(cls.name, None)
    return cls


def register_recipe(name: str, recipe: HarvestRecipe) -> None:
    """Make ``name`` known with its harvest recipe only (a later call replaces it)."""
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"provider names are lower-case letters, digits and _: {name!r}")
    _RECIPES[name] = recipe


def recipes() -> Mapping[str, HarvestRecipe]:
    """Every harvest recipe by provider name (read-only)."""
    table = {name: cls.recipe for name, cls in _PROVIDERS.items()}
    table.update(_RECIPES)
    return MappingProxyType(table)


def provider_names() -> list[str]:
    """Every provider that can be harvested, sorted."""
    return sorted({*_PROVIDERS, *_RECIPES})


def recipe_for(name: str, known: Mapping[str, HarvestRecipe] | None = None) -> HarvestRecipe:
    """The recipe of ``name``; ``UnknownProvider`` (listing the valid names) if none."""
    table = recipes() if known is None else known
    try:
        return table[name]
    except KeyError:
        raise UnknownProvider(name, sorted(table)) from None


def provider_class(name: str) -> type[Provider]:
    """The adapter class of ``name``; ``UnknownProvider`` lists the chat providers."""
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(name, sorted(_PROVIDERS)) from None
