"""Storage staking as nearcore's `check_storage_stake` (runtime/runtime/src/config.rs, NEP-448)."""

from __future__ import annotations

from devnet.vm.config import DEFAULT_CONFIG

# NEP-448: an account using at most this many bytes (e.g. one full-access key and a few function-call
# keys) needs no balance at all for its storage.
ZERO_BALANCE_ACCOUNT_STORAGE_LIMIT = 770


def storage_shortfall(balance: int, locked: int, storage_usage: int) -> int:
    """How many yoctoNEAR the account lacks to pay for its storage (0 = enough). nearcore reports this
    shortfall, not the total requirement, in `LackBalanceForState.amount`."""
    if storage_usage <= ZERO_BALANCE_ACCOUNT_STORAGE_LIMIT:
        return 0
    required = storage_usage * DEFAULT_CONFIG.storage_amount_per_byte
    return max(0, required - (balance + locked))
