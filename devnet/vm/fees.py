"""Action and receipt fees, as nearcore's `runtime/runtime/src/config.rs` computes them.

One set of formulas for both places that charge them: the node (a transaction's fees when it is
converted to a receipt, a receipt's execution fees when it runs) and the VM (fees of receipts a
contract creates). Prices come from `VMConfig` (nearcore's parameter table).

`sir` ("sender is receiver") selects the cheaper send fee of a receipt to the sender's own account.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from devnet.vm.config import DEFAULT_CONFIG, Fee, VMConfig
from devnet.vm.types import (
    Action,
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FunctionCall,
    FunctionCallPermission,
    Transfer,
)

_NEAR_IMPLICIT = re.compile(r"^[0-9a-f]{64}$")
_ETH_IMPLICIT = re.compile(r"^0x[0-9a-f]{40}$")


def _parts(a: Action, receiver_id: str, cfg: VMConfig) -> Iterable[tuple[Fee, int]]:
    """(fee, multiplier) pairs that make up one action's fee."""
    if isinstance(a, CreateAccount):
        return [(cfg.create_account, 1)]
    if isinstance(a, DeployContract):
        return [(cfg.deploy_contract, 1), (cfg.deploy_contract_byte, len(a.code))]
    if isinstance(a, FunctionCall):
        return [(cfg.function_call, 1), (cfg.function_call_byte, len(a.method_name.encode()) + len(a.args))]
    if isinstance(a, Transfer):
        # A transfer to an implicit account that may not exist yet also pays for creating it.
        if _NEAR_IMPLICIT.match(receiver_id):
            return [(cfg.transfer, 1), (cfg.create_account, 1), (cfg.add_key_full_access, 1)]
        if _ETH_IMPLICIT.match(receiver_id):
            return [(cfg.transfer, 1), (cfg.create_account, 1)]
        return [(cfg.transfer, 1)]
    if isinstance(a, AddKey):
        if isinstance(a.permission, FunctionCallPermission):
            names = sum(len(m.encode()) + 1 for m in a.permission.method_names)
            return [(cfg.add_key_function_call, 1), (cfg.add_key_byte, names)]
        return [(cfg.add_key_full_access, 1)]
    if isinstance(a, DeleteKey):
        return [(cfg.delete_key, 1)]
    assert isinstance(a, DeleteAccount)
    return [(cfg.delete_account, 1)]


def action_send_fee(a: Action, sir: bool, receiver_id: str, cfg: VMConfig = DEFAULT_CONFIG) -> int:
    return sum(fee.send(sir) * n for fee, n in _parts(a, receiver_id, cfg))


def action_exec_fee(a: Action, receiver_id: str, cfg: VMConfig = DEFAULT_CONFIG) -> int:
    return sum(fee.execution * n for fee, n in _parts(a, receiver_id, cfg))


def receipt_send_fee(actions: Iterable[Action], sir: bool, receiver_id: str, cfg: VMConfig = DEFAULT_CONFIG) -> int:
    """Gas burnt when an action receipt is created (the transaction's own outcome burns this)."""
    return cfg.action_receipt.send(sir) + sum(action_send_fee(a, sir, receiver_id, cfg) for a in actions)


def receipt_exec_fee(actions: Iterable[Action], receiver_id: str, cfg: VMConfig = DEFAULT_CONFIG) -> int:
    """Gas bought when the receipt is created and burnt when it executes (besides what the VM burns)."""
    return cfg.action_receipt.execution + sum(action_exec_fee(a, receiver_id, cfg) for a in actions)


def prepaid_gas(actions: Iterable[Action]) -> int:
    """Gas attached to the function calls of a receipt (nearcore's `total_prepaid_gas`)."""
    return sum(a.gas for a in actions if isinstance(a, FunctionCall))


def is_near_implicit(account_id: str) -> bool:
    return bool(_NEAR_IMPLICIT.match(account_id))
