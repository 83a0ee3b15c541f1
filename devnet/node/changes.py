"""State changes of a block (`EXPERIMENTAL_changes`, `changes`, `EXPERIMENTAL_changes_in_block`,
`block_effects`), derived from the history window by comparing each changed account with its state
before the block.

Simplification (documented in devnet/README.md): one net change per account, key and storage entry
per block, with the cause of the last receipt (or else transaction) that touched the account in that
block; nearcore lists every intermediate change with its own cause.
"""

from __future__ import annotations

import base64
from typing import Any

import base58

from devnet.errors import QueryError
from devnet.node.chain import Node
from devnet.node.history import History
from devnet.node.keys import public_key_from_str, public_key_to_str
from devnet.node.model import ZERO_HASH, Account, Block
from devnet.node.views import access_key_view


def _b58(b: bytes) -> str:
    return base58.b58encode(b).decode()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _causes(node: Node, block: Block) -> dict[str, dict[str, Any]]:
    """account -> the cause of its change in `block` (receipts win over transactions, last one wins)."""
    causes: dict[str, dict[str, Any]] = {}
    for h in block.tx_hashes:
        rec = node.txs.get(h)
        if rec is not None:
            causes[rec.signed.transaction.signer_id] = {"type": "transaction_processing", "tx_hash": _b58(h)}
    for rid in block.executed_receipt_ids:
        r = node.receipts.get(rid)
        if r is not None:
            causes[r.receiver_id] = {"type": "receipt_processing", "receipt_hash": _b58(rid)}
    return causes


def _account_view(account_id: str, a: Account) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "amount": str(a.balance),
        "locked": str(a.locked),
        "code_hash": _b58(a.code_hash),
        "storage_usage": a.storage_usage,
        "storage_paid_at": 0,
    }


def _diff(node: Node, account_id: str, old: Account | None, new: Account | None) -> list[tuple[str, dict[str, Any]]]:
    """(kind, change) pairs: kind is account / access_key / data / contract_code."""
    out: list[tuple[str, dict[str, Any]]] = []
    if new is None:
        if old is not None:
            out.append(("account", {"type": "account_deletion", "change": {"account_id": account_id}}))
        return out
    if old is None or (old.balance, old.locked, old.code_hash, old.storage_usage) != (
        new.balance,
        new.locked,
        new.code_hash,
        new.storage_usage,
    ):
        out.append(("account", {"type": "account_update", "change": _account_view(account_id, new)}))
    old_keys = old.keys if old is not None else {}
    for pk, rec in new.keys.items():
        prev = old_keys.get(pk)
        if prev is None or (prev.nonce, prev.permission) != (rec.nonce, rec.permission):
            change = {"account_id": account_id, "public_key": public_key_to_str(pk), "access_key": access_key_view(rec)}
            out.append(("access_key", {"type": "access_key_update", "change": change}))
    for pk in old_keys.keys() - new.keys.keys():
        change = {"account_id": account_id, "public_key": public_key_to_str(pk)}
        out.append(("access_key", {"type": "access_key_deletion", "change": change}))
    old_storage = old.storage if old is not None else {}
    if old_storage is not new.storage:
        for k, v in sorted(new.storage.items()):
            if old_storage.get(k) != v:
                change = {"account_id": account_id, "key_base64": _b64(k), "value_base64": _b64(v)}
                out.append(("data", {"type": "data_update", "change": change}))
        for k in sorted(old_storage.keys() - new.storage.keys()):
            out.append(("data", {"type": "data_deletion", "change": {"account_id": account_id, "key_base64": _b64(k)}}))
    old_code = old.code_hash if old is not None else ZERO_HASH
    if new.code_hash != old_code:
        code = node.codes.get(new.code_hash, b"")
        change = {"account_id": account_id, "code_base64": _b64(code)}
        out.append(("contract_code", {"type": "contract_code_update", "change": change}))
    return out


def _block_changes(node: Node, history: History, block: Block) -> list[tuple[str, str, dict[str, Any]]]:
    """(account_id, kind, change-with-cause) for every change in `block`."""
    history.check(node, block)
    causes = _causes(node, block)
    fallback = {"type": "not_writable_to_disk"}
    out = []
    for account_id in history.changed.get(block.height, ()):
        old = history.previous(account_id, block.height)
        new = history.after(account_id, block.height)
        for kind, change in _diff(node, account_id, old, new):
            out.append((account_id, kind, {"cause": causes.get(account_id, fallback), **change}))
    return out


def changes_in_block(node: Node, history: History, block: Block) -> dict[str, Any]:
    """EXPERIMENTAL_changes_in_block / block_effects: which accounts had which kind of change."""
    seen: dict[tuple[str, str], None] = {}
    for account_id, kind, _ in _block_changes(node, history, block):
        seen[(kind, account_id)] = None
    return {
        "block_hash": _b58(block.hash),
        "changes": [{"type": f"{kind}_touched", "account_id": a} for kind, a in seen],
    }


_TYPE_KIND = {
    "account_changes": "account",
    "all_access_key_changes": "access_key",
    "single_access_key_changes": "access_key",
    "data_changes": "data",
    "contract_code_changes": "contract_code",
}


def changes_by_type(node: Node, history: History, block: Block, params: dict[str, Any]) -> dict[str, Any]:
    """EXPERIMENTAL_changes / changes: the changes of one kind for the given accounts (or keys)."""
    changes_type = params.get("changes_type")
    kind = _TYPE_KIND.get(str(changes_type))
    if kind is None:
        raise QueryError("PARSE_ERROR", f"unknown changes_type {changes_type!r}", {"error_message": str(changes_type)})
    keys: set[tuple[str, str]] | None = None
    if changes_type == "single_access_key_changes":
        keys = set()
        for k in params.get("keys") or []:
            keys.add((str(k.get("account_id")), public_key_to_str(public_key_from_str(str(k.get("public_key"))))))
        accounts = {a for a, _ in keys}
    else:
        accounts = {str(a) for a in params.get("account_ids") or []}
    prefix = base64.b64decode(params.get("key_prefix_base64") or "")
    out = []
    for account_id, k, change in _block_changes(node, history, block):
        if k != kind or account_id not in accounts:
            continue
        if keys is not None and (account_id, change["change"]["public_key"]) not in keys:
            continue
        if kind == "data" and not base64.b64decode(change["change"]["key_base64"]).startswith(prefix):
            continue
        out.append(change)
    return {"block_hash": _b58(block.hash), "changes": out}
