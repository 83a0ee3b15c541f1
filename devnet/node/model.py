"""Plain records of the chain: accounts, receipts, outcomes, transactions, blocks."""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from devnet.node.borsh import SignedTransaction
from devnet.vm.types import AccessKeyPermission, Action

ZERO_HASH = bytes(32)
SYSTEM_ACCOUNT = "system"
STORAGE_BYTE_COST = 10**19  # yoctoNEAR per byte of storage (NEAR's storage staking price)
ACCOUNT_BASE_BYTES = 100
RECORD_OVERHEAD_BYTES = 40
NONCE_MULTIPLIER = 1_000_000  # a key added at height h starts at nonce (h - 1) * 1e6, as in nearcore

_ACCOUNT_RE = re.compile(r"^(([a-z\d]+[\-_])*[a-z\d]+\.)*([a-z\d]+[\-_])*[a-z\d]+$")
_IMPLICIT_RE = re.compile(r"^[0-9a-f]{64}$")


def is_valid_account_id(account_id: str) -> bool:
    return 2 <= len(account_id) <= 64 and bool(_ACCOUNT_RE.match(account_id))


def is_implicit(account_id: str) -> bool:
    return bool(_IMPLICIT_RE.match(account_id))


def digest(*parts: bytes | str | int) -> bytes:
    """sha256 over length-prefixed parts: the devnet's deterministic id derivation."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else struct.pack("<Q", p) if isinstance(p, int) else p
        h.update(struct.pack("<I", len(b)) + b)
    return h.digest()


@dataclass
class AccessKeyRecord:
    nonce: int
    permission: AccessKeyPermission


@dataclass
class Account:
    balance: int
    locked: int = 0
    code_hash: bytes = ZERO_HASH
    keys: dict[bytes, AccessKeyRecord] = field(default_factory=dict)
    storage: dict[bytes, bytes] = field(default_factory=dict)
    storage_usage: int = ACCOUNT_BASE_BYTES

    def copy(self) -> Account:
        return Account(
            balance=self.balance,
            locked=self.locked,
            code_hash=self.code_hash,
            keys={k: AccessKeyRecord(v.nonce, v.permission) for k, v in self.keys.items()},
            storage=dict(self.storage),
            storage_usage=self.storage_usage,
        )


def key_record_size(public_key: bytes, permission: AccessKeyPermission) -> int:
    size = len(public_key) + 8 + RECORD_OVERHEAD_BYTES
    if not hasattr(permission, "receiver_id"):
        return size + 1
    p: Any = permission
    return size + 1 + 17 + len(p.receiver_id) + sum(len(m) + 4 for m in p.method_names)


@dataclass(frozen=True)
class ActionReceipt:
    receipt_id: bytes
    predecessor_id: str
    receiver_id: str
    signer_id: str
    signer_public_key: bytes
    gas_price: int
    actions: tuple[Action, ...]
    tx_hash: bytes
    input_data_ids: tuple[bytes, ...] = ()
    output_data_receivers: tuple[tuple[bytes, str], ...] = ()  # (data_id, receiver_id)
    is_promise_yield: bool = False
    is_refund: bool = False


@dataclass(frozen=True)
class DataReceipt:
    receipt_id: bytes
    predecessor_id: str
    receiver_id: str
    data_id: bytes
    data: bytes | None  # None: the producing receipt failed, or a yield timed out
    tx_hash: bytes
    is_promise_resume: bool = False


Receipt = ActionReceipt | DataReceipt


@dataclass(frozen=True)
class Status:
    """ExecutionStatusView: SuccessValue(bytes) / SuccessReceiptId(id) / Failure(TxExecutionError JSON)."""

    kind: Literal["SuccessValue", "SuccessReceiptId", "Failure"]
    value: bytes = b""
    failure: Any = None


@dataclass(frozen=True)
class ExecutionOutcome:
    id: bytes
    block_height: int
    block_hash: bytes
    executor_id: str
    logs: tuple[str, ...]
    receipt_ids: tuple[bytes, ...]
    gas_burnt: int
    tokens_burnt: int
    status: Status


@dataclass
class TxRecord:
    signed: SignedTransaction
    block_height: int
    block_hash: bytes
    outcome: ExecutionOutcome
    receipt_ids: list[bytes]  # every receipt of the tree in creation order (refunds included)
    pending: set[bytes]  # non-refund receipts not executed yet
    done_height: int | None = None


@dataclass(frozen=True)
class YieldRecord:
    account_id: str
    receipt_id: bytes  # the postponed callback
    created_height: int
    tx_hash: bytes
    state: Literal["pending", "resumed", "timed_out"] = "pending"


@dataclass(frozen=True)
class Block:
    height: int
    hash: bytes
    prev_hash: bytes
    prev_height: int
    timestamp_ns: int
    chunk_hash: bytes
    tx_hashes: tuple[bytes, ...]
    incoming_receipt_ids: tuple[bytes, ...]  # receipts delivered to the chunk of this block
    executed_receipt_ids: tuple[bytes, ...]  # receipts whose outcome is in this block, in order
    gas_used: int
    gas_price: int
    total_supply: int
