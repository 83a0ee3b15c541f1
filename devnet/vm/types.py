"""The contract between the VM layer (devnet.vm) and the node around it (devnet.node).

The VM runs one function call of one contract and reports everything the call asked for as plain data
(an `Outcome`); the node turns that data into receipts, balance changes and blocks. Keeping this seam
as frozen dataclasses lets either side be tested without the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

# ---- actions (what a receipt or a transaction does; mirrors nearcore's Action enum) ----


@dataclass(frozen=True)
class FullAccess:
    pass


@dataclass(frozen=True)
class FunctionCallPermission:
    receiver_id: str
    method_names: tuple[str, ...] = ()  # empty = any method
    allowance: int | None = None  # yoctoNEAR; None = unlimited


AccessKeyPermission = FullAccess | FunctionCallPermission


@dataclass(frozen=True)
class CreateAccount:
    pass


@dataclass(frozen=True)
class DeployContract:
    code: bytes


@dataclass(frozen=True)
class FunctionCall:
    method_name: str
    args: bytes
    gas: int
    deposit: int


@dataclass(frozen=True)
class Transfer:
    deposit: int


@dataclass(frozen=True)
class AddKey:
    public_key: bytes  # borsh PublicKey: key type byte (0 = ed25519) + 32 key bytes
    nonce: int
    permission: AccessKeyPermission


@dataclass(frozen=True)
class DeleteKey:
    public_key: bytes


@dataclass(frozen=True)
class DeleteAccount:
    beneficiary_id: str


Action = CreateAccount | DeployContract | FunctionCall | Transfer | AddKey | DeleteKey | DeleteAccount

# ---- what a call sees ----


@dataclass(frozen=True)
class PromiseResult:
    """Result of a receipt this call depends on. A yield callback that timed out sees `failed`."""

    status: Literal["successful", "failed"]
    data: bytes = b""


@dataclass(frozen=True)
class CallContext:
    current_account_id: str
    signer_account_id: str
    signer_account_pk: bytes  # borsh PublicKey (33 bytes for ed25519)
    predecessor_account_id: str
    input: bytes
    block_height: int
    block_timestamp_ns: int
    epoch_height: int
    account_balance: int  # yoctoNEAR, attached deposit already credited
    account_locked_balance: int
    storage_usage: int
    attached_deposit: int
    prepaid_gas: int
    random_seed: bytes  # 32 bytes
    receipt_id: bytes  # 32 bytes; unique per call, the VM derives yield data_ids from it
    is_view: bool = False
    promise_results: tuple[PromiseResult, ...] = ()
    # accounts that receive this call's result as a data receipt (value_return pays per byte for each)
    output_data_receivers: tuple[str, ...] = ()


class ChainState(Protocol):
    """What the VM may ask the node during a call."""

    def storage(self) -> Mapping[bytes, bytes]:
        """The current contract's state before the call (read-only)."""
        ...

    def yield_is_pending(self, account_id: str, data_id: bytes) -> bool:
        """True if `data_id` is a yield created by `account_id` that is neither resumed nor timed out."""
        ...


# ---- what a call produces ----


@dataclass(frozen=True)
class NewReceipt:
    """A receipt the call created, in creation order. `index` is its position in Outcome.receipts.

    `depends_on` lists indices of receipts (of this same outcome) whose results this receipt receives
    as promise_results, in order (promise_then / promise_and). A yielded receipt instead waits for
    `yield_data_id`, delivered by a later promise_yield_resume or by the node's timeout.
    """

    index: int
    receiver_id: str
    actions: tuple[Action, ...]
    depends_on: tuple[int, ...] = ()
    yield_data_id: bytes | None = None


@dataclass(frozen=True)
class YieldResume:
    data_id: bytes
    payload: bytes  # at most 1024 bytes (checked by the VM)


@dataclass(frozen=True)
class HostError:
    """Why a call failed. `kind` is a stable name (GasExceeded, GuestPanic, WasmTrap, ...)."""

    kind: str
    message: str


@dataclass(frozen=True)
class Outcome:
    return_value: bytes | None = None  # from value_return
    return_promise: int | None = None  # receipt index passed to promise_return
    logs: tuple[str, ...] = ()
    receipts: tuple[NewReceipt, ...] = ()
    yield_resumes: tuple[YieldResume, ...] = ()
    storage_writes: Mapping[bytes, bytes | None] = field(default_factory=dict)  # None = removed
    gas_burnt: int = 0
    gas_used: int = 0  # burnt + gas reserved for created receipts (their exec fees and attached gas)
    error: HostError | None = None  # on error, receipts/resumes/writes are empty (rolled back)

    @property
    def ok(self) -> bool:
        return self.error is None
