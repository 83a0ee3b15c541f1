"""Errors of the VM layer.

    VMError                  root: everything devnet.vm raises derives from it
    +-- ContractLoadError    the bytes are not a runnable NEAR contract (bad wasm, unknown import, no memory)

A failing *call* never raises: panics, traps, gas exhaustion and host errors are reported in
`Outcome.error` (a `HostError` value) so the node can record them in the receipt outcome.
"""

from __future__ import annotations


class VMError(Exception):
    """Root of every exception raised by devnet.vm."""


class ContractLoadError(VMError):
    """The WASM cannot be compiled or links something the NEAR host does not provide."""
