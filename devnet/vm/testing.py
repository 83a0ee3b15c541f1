"""An in-memory `ChainState` and a ready-made `CallContext`, for running contracts without a node.

Useful in unit tests of contracts and of the VM itself: `MemoryChainState.apply` commits an outcome the
way the node does (storage writes, new yields become pending, resumes settle them), so multi-call flows
such as yield -> resume -> callback can be driven by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from devnet.vm.config import TGAS
from devnet.vm.types import CallContext, Outcome

NEAR = 10**24

DEFAULT_CONTEXT = CallContext(
    current_account_id="c.test",
    signer_account_id="alice.test",
    signer_account_pk=b"\x00" + bytes(range(32)),
    predecessor_account_id="bob.test",
    input=b"",
    block_height=42,
    block_timestamp_ns=1_700_000_000_000_000_000,
    epoch_height=3,
    account_balance=5 * NEAR,
    account_locked_balance=7,
    storage_usage=1_000,
    attached_deposit=11,
    prepaid_gas=300 * TGAS,
    random_seed=bytes(range(100, 132)),
    receipt_id=bytes(range(200, 232)),
)


def call_context(**overrides: Any) -> CallContext:
    """`DEFAULT_CONTEXT` with some fields replaced."""
    return replace(DEFAULT_CONTEXT, **overrides)


class MemoryChainState:
    """Storage of one contract account plus the yields it has pending."""

    def __init__(self, account_id: str = DEFAULT_CONTEXT.current_account_id) -> None:
        self.account_id = account_id
        self.data: dict[bytes, bytes] = {}
        self.pending: set[tuple[str, bytes]] = set()

    def storage(self) -> Mapping[bytes, bytes]:
        return dict(self.data)

    def yield_is_pending(self, account_id: str, data_id: bytes) -> bool:
        return (account_id, data_id) in self.pending

    def apply(self, outcome: Outcome) -> None:
        """Commit a successful outcome; a failed one changes nothing, as on chain."""
        if not outcome.ok:
            return
        for key, value in outcome.storage_writes.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        for receipt in outcome.receipts:
            if receipt.yield_data_id is not None:
                self.pending.add((receipt.receiver_id, receipt.yield_data_id))
        for resume in outcome.yield_resumes:
            self.pending.discard((self.account_id, resume.data_id))
