"""Each package's public names are exactly its ``__all__``, and they all exist."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("package", ["fingerprint", "storage", "client", "harvester"])
def test_all_is_complete_and_sorted(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert len(set(exported)) == len(exported)
    for name in exported:
        member = getattr(module, name)
        if isinstance(member, types.UnionType):
            continue  # a type alias such as client.Event has no module of its own
        owner = getattr(member, "__module__", package)
        assert owner.split(".")[0] == package, f"{package}.{name} comes from {owner}"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not getattr(value, "__file__", None)
        and name != "annotations"
    }
    assert public <= set(exported), f"public but not in __all__: {public - set(exported)}"
