"""Errors of the contract package.

ContractPackageError
 +-- ContractBuildError   nearc/emscripten failed, or the toolchain is missing or unpatchable
"""

from __future__ import annotations

from common.errors import OffshoreError

__all__ = ["ContractBuildError", "ContractPackageError"]


class ContractPackageError(OffshoreError):
    """Root of every error raised by the `contract` package."""


class ContractBuildError(ContractPackageError):
    """A contract could not be built to WASM; the message carries the tail of the build log."""
