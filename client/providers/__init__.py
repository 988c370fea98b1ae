"""The built-in providers: one module each, named in ``PROVIDERS`` (no registration by
import). The harvester, the CLI and the client look providers and recipes up here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fingerprint import GENERIC_CALLS, Call

from .._errors import UnknownProvider
from .._provider import Provider
from .._recipe import HarvestRecipe
from .cloudflare import CloudflareProvider
from .flowgpt import FlowGPTProvider
from .freenetfly import FreeNetflyProvider
from .g4f_space import G4FSpaceProvider

__all__ = [
    "PROVIDERS",
    "CloudflareProvider",
    "FlowGPTProvider",
    "FreeNetflyProvider",
    "G4FSpaceProvider",
    "api_calls",
    "provider_class",
    "provider_names",
    "recipe_for",
    "recipes",
]

# The explicit list: a new provider is its module plus one line here.
PROVIDERS: tuple[type[Provider], ...] = (
    CloudflareProvider,
    FlowGPTProvider,
    FreeNetflyProvider,
    G4FSpaceProvider,
)

_BY_NAME: Mapping[str, type[Provider]] = MappingProxyType({p.name: p for p in PROVIDERS})


def provider_names() -> list[str]:
    """Every built-in provider's name, sorted."""
    return sorted(_BY_NAME)


def provider_class(name: str) -> type[Provider]:
    """The adapter class of ``name``; ``UnknownProvider`` lists the valid names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownProvider(name, provider_names()) from None


def api_calls() -> tuple[Call, ...]:
    """Every kind of API call the built-in providers make, the generic GET and JSON POST
    first: what the harvester has Chromium make at capture."""
    return tuple(dict.fromkeys([*GENERIC_CALLS, *(c for p in PROVIDERS for c in p.calls)]))


def recipes() -> Mapping[str, HarvestRecipe]:
    """Every built-in provider's harvest recipe by name (read-only)."""
    return MappingProxyType({name: cls.recipe for name, cls in _BY_NAME.items()})


def recipe_for(name: str, known: Mapping[str, HarvestRecipe] | None = None) -> HarvestRecipe:
    """The recipe of ``name`` in ``known`` (default: the built-in providers');
    ``UnknownProvider`` lists the valid names."""
    table = recipes() if known is None else known
    try:
        return table[name]
    except KeyError:
        raise UnknownProvider(name, sorted(table)) from None
