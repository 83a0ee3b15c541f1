"""Errors raised by the devnet node and server.

DevnetError (a common.errors.OffshoreError: the CLI prints it as one line)
 +-- BorshError            a transaction or action could not be decoded
 +-- InvalidTxError        a transaction was rejected before execution (carries NEAR's error JSON)
 +-- QueryError            a JSON-RPC query could not be answered (carries NEAR's cause name and info)
 +-- StateFileError        the persisted chain could not be read or written
 +-- VmUnavailableError    contract execution was asked for but `devnet.vm` is not importable
"""

from __future__ import annotations

from typing import Any

from common.errors import OffshoreError


class DevnetError(OffshoreError):
    """Root of every error raised by devnet (outside the VM layer)."""


class BorshError(DevnetError):
    pass


class InvalidTxError(DevnetError):
    """`data` is NEAR's `InvalidTxError` value, e.g. `{"InvalidNonce": {"tx_nonce": 5, "ak_nonce": 6}}`."""

    def __init__(self, data: Any) -> None:
        super().__init__(f"invalid transaction: {data}")
        self.data = data


class QueryError(DevnetError):
    """`name` is NEAR's error cause (UNKNOWN_ACCOUNT, UNKNOWN_BLOCK, ...); `info` its details."""

    def __init__(self, name: str, message: str, info: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.info = info or {}


class StateFileError(DevnetError):
    pass


class VmUnavailableError(DevnetError):
    pass
