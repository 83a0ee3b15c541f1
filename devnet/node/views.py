"""nearcore's JSON views (RPC) and neardata's block document, rendered from the node's records.

Field names and nesting follow nearcore's `views.rs` and fastnear's `BlockWithTxHashes`; values that
have no meaning on a one-producer chain (proofs, approvals, validator data) are present but empty.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import base58

from devnet.node.borsh import Unsupported
from devnet.node.chain import Node
from devnet.node.history import ancestor, final_block
from devnet.node.keys import public_key_to_str
from devnet.node.model import (
    ZERO_HASH,
    AccessKeyRecord,
    Block,
    DataReceipt,
    ExecutionOutcome,
    Receipt,
    Status,
    TxRecord,
)
from devnet.vm.config import PROTOCOL_VERSION  # one version: the one whose fee table the VM charges
from devnet.vm.types import (
    AccessKeyPermission,
    Action,
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    HostError,
    Transfer,
)

DEVNET_VERSION = "0.2.0"  # `status.version.version`; bump with what the devnet models
_AUTHOR = "devnet"
_EMPTY_SIG = "ed25519:" + base58.b58encode(bytes(64)).decode()


@functools.lru_cache(maxsize=1 << 16)
def b58(b: bytes) -> str:
    """Cached: the same hashes are rendered in every view, and pure-Python base58 dominates block reads."""
    return base58.b58encode(b).decode()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def permission_view(p: AccessKeyPermission) -> Any:
    if isinstance(p, FullAccess):
        return "FullAccess"
    return {
        "FunctionCall": {
            "allowance": None if p.allowance is None else str(p.allowance),
            "receiver_id": p.receiver_id,
            "method_names": list(p.method_names),
        }
    }


def access_key_view(k: AccessKeyRecord) -> dict[str, Any]:
    return {"nonce": k.nonce, "permission": permission_view(k.permission)}


def action_view(a: Action) -> Any:
    if isinstance(a, CreateAccount):
        return "CreateAccount"
    if isinstance(a, DeployContract):  # nearcore shows the code hash, not the code
        return {"DeployContract": {"code": b64(hashlib.sha256(a.code).digest())}}
    if isinstance(a, FunctionCall):
        return {
            "FunctionCall": {
                "method_name": a.method_name,
                "args": b64(a.args),
                "gas": a.gas,
                "deposit": str(a.deposit),
            }
        }
    if isinstance(a, Transfer):
        return {"Transfer": {"deposit": str(a.deposit)}}
    if isinstance(a, AddKey):
        return {
            "AddKey": {
                "public_key": public_key_to_str(a.public_key),
                "access_key": {"nonce": a.nonce, "permission": permission_view(a.permission)},
            }
        }
    if isinstance(a, DeleteKey):
        return {"DeleteKey": {"public_key": public_key_to_str(a.public_key)}}
    assert isinstance(a, DeleteAccount)
    return {"DeleteAccount": {"beneficiary_id": a.beneficiary_id}}


def status_view(s: Status) -> Any:
    if s.kind == "SuccessValue":
        return {"SuccessValue": b64(s.value)}
    if s.kind == "SuccessReceiptId":
        return {"SuccessReceiptId": b58(s.value)}
    return {"Failure": s.failure}


def final_status_view(s: Status | None) -> Any:
    if s is None:
        return "Started"
    if s.kind == "SuccessValue":
        return {"SuccessValue": b64(s.value)}
    return {"Failure": s.failure}


def outcome_view(o: ExecutionOutcome) -> dict[str, Any]:
    """ExecutionOutcomeWithIdView."""
    return {
        "proof": [],
        "block_hash": b58(o.block_hash),
        "id": b58(o.id),
        "outcome": {
            "logs": list(o.logs),
            "receipt_ids": [b58(r) for r in o.receipt_ids],
            "gas_burnt": o.gas_burnt,
            "tokens_burnt": str(o.tokens_burnt),
            "executor_id": o.executor_id,
            "status": status_view(o.status),
            "metadata": {"version": 3, "gas_profile": []},
        },
    }


def receipt_view(r: Receipt) -> dict[str, Any]:
    if isinstance(r, DataReceipt):
        body: dict[str, Any] = {
            "Data": {
                "data_id": b58(r.data_id),
                "data": None if r.data is None else b64(r.data),
                "is_promise_resume": r.is_promise_resume,
            }
        }
    else:
        body = {
            "Action": {
                "signer_id": r.signer_id,
                "signer_public_key": public_key_to_str(r.signer_public_key),
                "gas_price": str(r.gas_price),
                "output_data_receivers": [
                    {"data_id": b58(d), "receiver_id": recv} for d, recv in r.output_data_receivers
                ],
                "input_data_ids": [b58(d) for d in r.input_data_ids],
                "actions": [action_view(a) for a in r.actions],
                "is_promise_yield": r.is_promise_yield,
            }
        }
    return {
        "predecessor_id": r.predecessor_id,
        "receiver_id": r.receiver_id,
        "receipt_id": b58(r.receipt_id),
        "receipt": body,
        "priority": 0,
    }


def transaction_view(node: Node, tx_hash: bytes) -> dict[str, Any]:
    """SignedTransactionView."""
    stx = node.txs[tx_hash].signed
    tx = stx.transaction
    return {
        "signer_id": tx.signer_id,
        "public_key": public_key_to_str(tx.public_key),
        "nonce": tx.nonce,
        "receiver_id": tx.receiver_id,
        "actions": [action_view(a) for a in tx.actions if not isinstance(a, Unsupported)],
        "priority_fee": tx.priority_fee or 0,
        "signature": "ed25519:" + b58(stx.signature[1:]),
        "hash": b58(tx_hash),
    }


def execution_status(node: Node, rec: TxRecord) -> str:
    """nearcore's TxExecutionStatus reached so far: INCLUDED < EXECUTED_OPTIMISTIC < INCLUDED_FINAL <
    EXECUTED (included block final, all receipts ran) < FINAL (the last receipt's block is final too)."""
    final = final_block(node).height
    done = rec.done_height
    if done is not None and done <= final:
        return "FINAL"
    if rec.block_height <= final:
        return "EXECUTED" if done is not None else "INCLUDED_FINAL"
    return "EXECUTED_OPTIMISTIC" if done is not None else "INCLUDED"


def vm_error_text(err: HostError, account_id: str) -> str:
    """A failed view call's error as nearcore words it: `Debug` of near-vm-runner's FunctionCallError."""
    kind, msg = err.kind, err.message
    if kind in ("MethodNotFound", "MethodEmptyName", "MethodInvalidSignature"):
        debug = f"MethodResolveError({kind})"
    elif kind == "GuestPanic":
        debug = f"HostError(GuestPanic {{ panic_msg: {_rust_str(msg)} }})"
    elif kind in ("GasExceeded", "GasLimitExceeded"):
        debug = f"HostError({kind})"
    elif kind == "CodeDoesNotExist":
        debug = f'CompilationError(CodeDoesNotExist {{ account_id: AccountId("{account_id}") }})'
    elif kind in ("CompilationError", "PrepareError", "ContractLoadError"):
        debug = f"CompilationError(PrepareError({_rust_str(msg)}))"
    elif kind == "ProhibitedInView":
        method = msg.split(" ", 1)[0] if msg else ""
        debug = f"HostError(ProhibitedInView {{ method_name: {_rust_str(method)} }})"
    elif kind == "WasmTrap":
        debug = f"WasmTrap({msg or 'Unreachable'})"
    else:
        debug = f"HostError({kind} {{ msg: {_rust_str(msg)} }})" if msg else f"HostError({kind})"
    return f"wasm execution failed with error: {debug}"


def _rust_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def final_outcome_view(node: Node, tx_hash: bytes, *, with_receipts: bool = False) -> dict[str, Any]:
    """FinalExecutionOutcomeView (`tx`, `broadcast_tx_commit`); with receipts for EXPERIMENTAL_tx_status."""
    rec = node.txs[tx_hash]
    status = node.tx_status(tx_hash)
    out: dict[str, Any] = {
        "final_execution_status": execution_status(node, rec),
        "status": final_status_view(status),
        "transaction": transaction_view(node, tx_hash),
        "transaction_outcome": outcome_view(rec.outcome),
        "receipts_outcome": [outcome_view(o) for o in node.iter_tx_outcomes(tx_hash)],
    }
    if with_receipts:
        out["receipts"] = [receipt_view(node.receipts[rid]) for rid in rec.receipt_ids if rid in node.receipts]
    return out


def chunk_header_view(node: Node, b: Block) -> dict[str, Any]:
    return {
        "chunk_hash": b58(b.chunk_hash),
        "prev_block_hash": b58(b.prev_hash),
        "outcome_root": b58(ZERO_HASH),
        "prev_state_root": b58(ZERO_HASH),
        "encoded_merkle_root": b58(ZERO_HASH),
        "encoded_length": 0,
        "height_created": b.height,
        "height_included": b.height,
        "shard_id": 0,
        "gas_used": b.gas_used,
        "gas_limit": 1_000_000_000_000_000,
        "rent_paid": "0",
        "validator_reward": "0",
        "balance_burnt": str(b.gas_used * b.gas_price),
        "outgoing_receipts_root": b58(ZERO_HASH),
        "tx_root": b58(ZERO_HASH),
        "validator_proposals": [],
        "congestion_info": {
            "delayed_receipts_gas": "0",
            "buffered_receipts_gas": "0",
            "receipt_bytes": 0,
            "allowed_shard": 0,
        },
        "bandwidth_requests": None,
        "signature": _EMPTY_SIG,
    }


def block_view(node: Node, b: Block) -> dict[str, Any]:
    """BlockView (RPC `block`; neardata's `block`). `last_final_block` lags the block by the finality
    lag, `last_ds_final_block` (doomslug) by one, as on NEAR."""
    final = final_block(node, b)
    ds_final = ancestor(node, b, min(1, node.config.final_lag_blocks))
    return {
        "author": _AUTHOR,
        "header": {
            "height": b.height,
            "prev_height": b.prev_height if b.prev_height else None,
            "epoch_id": b58(ZERO_HASH),
            "next_epoch_id": b58(ZERO_HASH),
            "hash": b58(b.hash),
            "prev_hash": b58(b.prev_hash),
            "prev_state_root": b58(ZERO_HASH),
            "block_body_hash": b58(b.chunk_hash),
            "chunk_receipts_root": b58(ZERO_HASH),
            "chunk_headers_root": b58(ZERO_HASH),
            "chunk_tx_root": b58(ZERO_HASH),
            "outcome_root": b58(ZERO_HASH),
            "chunks_included": 1,
            "challenges_root": b58(ZERO_HASH),
            "timestamp": b.timestamp_ns,
            "timestamp_nanosec": str(b.timestamp_ns),
            "random_value": b58(hashlib.sha256(b.hash).digest()),
            "validator_proposals": [],
            "chunk_mask": [True],
            "gas_price": str(b.gas_price),
            "block_ordinal": b.height,
            "rent_paid": "0",
            "validator_reward": "0",
            "total_supply": str(b.total_supply),
            "challenges_result": [],
            "last_final_block": b58(final.hash),
            "last_ds_final_block": b58(ds_final.hash),
            "next_bp_hash": b58(ZERO_HASH),
            "block_merkle_root": b58(ZERO_HASH),
            "epoch_sync_data_hash": None,
            "approvals": [],
            "signature": _EMPTY_SIG,
            "latest_protocol_version": PROTOCOL_VERSION,
        },
        "chunks": [chunk_header_view(node, b)],
    }


def chunk_view(node: Node, b: Block) -> dict[str, Any]:
    """ChunkView (RPC `chunk`)."""
    return {
        "author": _AUTHOR,
        "header": chunk_header_view(node, b),
        "transactions": [transaction_view(node, h) for h in b.tx_hashes],
        "receipts": [receipt_view(node.receipts[r]) for r in b.incoming_receipt_ids],
    }


def neardata_block(node: Node, b: Block) -> dict[str, Any]:
    """fastnear's BlockWithTxHashes: `block` + one shard with chunk and receipt outcomes."""
    outcomes = []
    for rid in b.executed_receipt_ids:
        r = node.receipts[rid]
        outcomes.append(
            {
                "execution_outcome": outcome_view(node.outcomes[rid]),
                "receipt": receipt_view(r),
                "tx_hash": b58(r.tx_hash) if r.tx_hash in node.txs else None,
            }
        )
    transactions = [
        {
            "transaction": transaction_view(node, h),
            "outcome": {"execution_outcome": outcome_view(node.txs[h].outcome), "receipt": None},
        }
        for h in b.tx_hashes
    ]
    return {
        "block": block_view(node, b),
        "shards": [
            {
                "shard_id": 0,
                "chunk": {
                    "author": _AUTHOR,
                    "header": chunk_header_view(node, b),
                    "transactions": transactions,
                    "receipts": [receipt_view(node.receipts[r]) for r in b.incoming_receipt_ids],
                    "local_receipts": [],
                },
                "receipt_execution_outcomes": outcomes,
                "state_changes": [],
            }
        ],
    }
