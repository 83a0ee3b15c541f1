"""devnet.vm's public surface is exactly its `__all__`, and every host function has an implementation."""

from __future__ import annotations

import types

import devnet.vm
from devnet.vm import HOST_FUNCTIONS
from devnet.vm._host import _HANDLERS, _UNSUPPORTED, Session


def test_all_lists_every_public_name_once() -> None:
    exported = list(devnet.vm.__all__)
    assert len(exported) == len(set(exported))
    public = {
        name
        for name, value in vars(devnet.vm).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(exported)


def test_every_host_function_is_implemented_or_named_as_not_modelled() -> None:
    # the 58 a nearc contract links, abort, storage_iter_*, and 16 newer ones (protocol 85)
    assert len(HOST_FUNCTIONS) == 78
    missing = {name for name in HOST_FUNCTIONS if not callable(getattr(Session, f"_h_{name}", None))}
    assert missing <= _UNSUPPORTED
    assert set(_HANDLERS) == HOST_FUNCTIONS
