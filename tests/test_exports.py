"""Each package's public surface is exactly its `__all__` (ruff's RUF022 keeps it sorted)."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = ["offshore", "schemas", "streams", "executor", "indexer", "devnet", "devnet.vm", "contract", "projector"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name_once(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported))
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType) and attr != "annotations"
    }
    assert public == set(exported)
