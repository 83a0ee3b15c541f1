"""nearcore's action validation (`runtime/runtime/src/action_validation.rs`) as pure functions.

The same checks run on a transaction's actions (a failure rejects the transaction with
`InvalidTxError.ActionsValidation`) and on every receipt a contract creates (a failure fails the
*calling* receipt with `ActionError.NewReceiptValidationError`, as nearcore does - not the callee).
Each function returns nearcore's `ActionsValidationError` JSON, or None when the actions are valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devnet.node.model import is_valid_account_id
from devnet.vm.config import DEFAULT_CONFIG, VMConfig
from devnet.vm.fees import prepaid_gas
from devnet.vm.types import Action, AddKey, DeleteAccount, DeployContract, FunctionCall, FunctionCallPermission


def validate_actions(actions: Sequence[Action], cfg: VMConfig = DEFAULT_CONFIG) -> Any:
    """nearcore's `validate_actions` (NewReceipt mode, the strictest)."""
    if len(actions) > cfg.max_actions_per_receipt:
        return {
            "TotalNumberOfActionsExceeded": {
                "total_number_of_actions": len(actions),
                "limit": cfg.max_actions_per_receipt,
            }
        }
    deploys = sum(isinstance(a, DeployContract) for a in actions)
    if deploys > cfg.max_deploy_actions_per_receipt:
        return {
            "TotalNumberOfDeployActionsExceeded": {
                "number_of_deploy_actions": deploys,
                "limit": cfg.max_deploy_actions_per_receipt,
            }
        }
    for i, a in enumerate(actions):
        if isinstance(a, DeleteAccount) and i != len(actions) - 1:
            return "DeleteActionMustBeFinal"
        err = _validate_action(a, cfg)
        if err is not None:
            return err
    total = prepaid_gas(actions)
    if total > cfg.max_total_prepaid_gas:
        return {"TotalPrepaidGasExceeded": {"total_prepaid_gas": total, "limit": cfg.max_total_prepaid_gas}}
    return None


def _validate_action(a: Action, cfg: VMConfig) -> Any:
    if isinstance(a, DeployContract) and len(a.code) > cfg.max_contract_size:
        return {"ContractSizeExceeded": {"size": len(a.code), "limit": cfg.max_contract_size}}
    if isinstance(a, FunctionCall):
        if a.gas == 0:
            return "FunctionCallZeroAttachedGas"
        name_len = len(a.method_name.encode())
        if name_len > cfg.max_length_method_name:
            return {"FunctionCallMethodNameLengthExceeded": {"length": name_len, "limit": cfg.max_length_method_name}}
        if len(a.args) > cfg.max_arguments_length:
            return {"FunctionCallArgumentsLengthExceeded": {"length": len(a.args), "limit": cfg.max_arguments_length}}
    if isinstance(a, AddKey) and isinstance(a.permission, FunctionCallPermission):
        perm = a.permission
        if not is_valid_account_id(perm.receiver_id):
            return {"InvalidAccountId": {"account_id": perm.receiver_id[:128]}}
        total = 0
        for name in perm.method_names:
            length = len(name.encode())
            if length > cfg.max_length_method_name:
                return {"AddKeyMethodNameLengthExceeded": {"length": length, "limit": cfg.max_length_method_name}}
            total += length + 1  # nearcore counts a terminating byte per name
        if total > cfg.max_number_bytes_method_names:
            return {
                "AddKeyMethodNamesNumberOfBytesExceeded": {
                    "total_number_of_bytes": total,
                    "limit": cfg.max_number_bytes_method_names,
                }
            }
    if isinstance(a, DeleteAccount) and not is_valid_account_id(a.beneficiary_id):
        return {"InvalidAccountId": {"account_id": a.beneficiary_id[:128]}}
    return None


def new_receipt_error(err: Any) -> Any:
    """The ActionErrorKind of a caller whose created receipt failed validation."""
    return {"NewReceiptValidationError": {"ActionsValidation": err}}
