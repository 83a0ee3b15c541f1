"""HTTP surface: NEAR JSON-RPC on `POST /` and a neardata-compatible block API under `/v0/`.

Error bodies copy nearcore's (`HANDLER_ERROR` + cause name/info + legacy `data`), because clients such
as py-near pick their exception class from `cause.name` and walk `data` for the InvalidTxError kind.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import subprocess
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import base58
from aiohttp import web

from devnet.errors import BorshError, DevnetError, InvalidTxError, QueryError, VmUnavailableError
from devnet.node.borsh import decode_signed_transaction
from devnet.node.chain import Node
from devnet.node.changes import changes_by_type, changes_in_block
from devnet.node.history import FINALITIES, History, block_for_finality
from devnet.node.keys import public_key_from_str, public_key_to_str
from devnet.node.model import Block
from devnet.node.rpc_docs import (
    client_config,
    genesis_config,
    iso_time,
    network_info,
    protocol_config,
    validators,
    validators_ordered,
)
from devnet.node.views import (
    DEVNET_VERSION,
    access_key_view,
    b58,
    b64,
    block_view,
    chunk_view,
    execution_status,
    final_outcome_view,
    neardata_block,
    receipt_view,
    vm_error_text,
)
from devnet.service import Devnet, Until
from devnet.vm.config import PROTOCOL_VERSION

# wait_until -> what the transaction must reach (nearcore's TxExecutionStatus; None = do not wait)
_LEVELS: dict[str, Until | None] = {
    "NONE": None,
    "INCLUDED": "included",
    "EXECUTED_OPTIMISTIC": "executed",
    "INCLUDED_FINAL": "included_final",
    "EXECUTED": "executed_final",
    "FINAL": "final",
}
_DEVNET_KEY: web.AppKey[Devnet] = web.AppKey("devnet", Devnet)
_CACHE_KEY: web.AppKey[OrderedDict[str, bytes]] = web.AppKey("block_cache", OrderedDict)
_CACHE_SIZE = 4096
_HOLD_BLOCKS = 10  # neardata holds a request for a height this far above its final block
_HOLD_S = 15.0  # then 503 (a stalled chain): a held handler outlives a gone client (10 s timeout) by little


class RpcError(DevnetError):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", "rpc error"))
        self.body = body


def _handler_error(name: str, info: dict[str, Any], data: Any) -> RpcError:
    return RpcError(
        {
            "name": "HANDLER_ERROR",
            "cause": {"name": name, "info": info},
            "code": -32000,
            "message": "Server error",
            "data": data,
        }
    )


def _parse_error(message: str) -> RpcError:
    return RpcError(
        {
            "name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "PARSE_ERROR", "info": {"error_message": message}},
            "code": -32700,
            "message": "Parse error",
            "data": message,
        }
    )


def _internal_error(message: str) -> RpcError:
    return RpcError(
        {
            "name": "INTERNAL_ERROR",
            "cause": {"name": "INTERNAL_ERROR", "info": {"error_message": message}},
            "code": -32000,
            "message": "Server error",
            "data": message,
        }
    )


def _invalid_tx(exc: InvalidTxError) -> RpcError:
    return _handler_error("INVALID_TRANSACTION", {}, {"TxExecutionError": {"InvalidTxError": exc.data}})


def _timeout() -> RpcError:
    return _handler_error("TIMEOUT_ERROR", {}, "Timeout")


# ------------------------------------------------------------------ helpers on the node thread


def _block_ref(node: Node, params: Any, history: History | None = None) -> Block:
    """Resolve `finality` / `block_id` (height or hash) / `sync_checkpoint` to a block; raises UNKNOWN_BLOCK.

    No reference at all means the head (nearcore rejects that; the devnet keeps older clients working)."""
    assert node.head is not None
    block_id: Any = None
    if isinstance(params, list):
        block_id = params[0] if params else None
    elif isinstance(params, dict):
        block_id = params.get("block_id")
        if block_id is None:
            if params.get("finality") is not None:
                if params["finality"] not in FINALITIES:
                    raise _parse_error(f"unknown variant `{params['finality']}`, expected one of {FINALITIES}")
                return block_for_finality(node, str(params["finality"]))
            checkpoint = params.get("sync_checkpoint")
            if checkpoint == "genesis":
                return node.blocks[node.genesis_height]
            if checkpoint == "earliest_available":
                return _earliest(node, history)
    if block_id is None:
        return node.head
    height: int | None
    if isinstance(block_id, int) or (isinstance(block_id, str) and block_id.isdigit()):
        height = int(block_id)
    else:
        try:
            height = node.block_by_hash.get(base58.b58decode(str(block_id)))
        except ValueError:
            height = None
    if height is None or height not in node.blocks:
        raise QueryError(
            "UNKNOWN_BLOCK", f"DB Not Found Error: BLOCK: {block_id}", {"block_reference": {"block_id": block_id}}
        )
    return node.blocks[height]


def _earliest(node: Node, history: History | None) -> Block:
    """The oldest block whose state queries can still answer."""
    assert node.head is not None
    height = history.earliest(node.head.height) if history is not None else node.head.height
    while height not in node.blocks:  # a skipped height: the next produced block
        height += 1
    return node.blocks[height]


def _query(node: Node, history: History, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise _parse_error("query expects an object with request_type")
    rt = params.get("request_type")
    if isinstance(params.get("path"), str):  # the legacy form: path "account/x" etc. is not modelled
        raise _parse_error("the legacy `path` form of query is not supported by the devnet; use request_type")
    account_id = params.get("account_id")
    if not isinstance(account_id, str):
        raise _parse_error("missing field `account_id`")
    block = _block_ref(node, params, history)
    at = {"block_height": block.height, "block_hash": b58(block.hash)}
    acct = history.account_at(node, account_id, block)  # GARBAGE_COLLECTED_BLOCK past the window
    if rt in ("view_account", "view_access_key", "view_access_key_list", "view_state", "view_code") and acct is None:
        raise QueryError(
            "UNKNOWN_ACCOUNT",
            f"account {account_id} does not exist while viewing",
            {"requested_account_id": account_id, **at},
        )
    if rt == "view_account":
        assert acct is not None
        return {
            "amount": str(acct.balance),
            "locked": str(acct.locked),
            "code_hash": b58(acct.code_hash),
            "storage_usage": acct.storage_usage,
            "storage_paid_at": 0,
            **at,
        }
    if rt == "view_access_key":
        assert acct is not None
        pk_text = params.get("public_key")
        try:
            pk = public_key_from_str(str(pk_text))
        except (DevnetError, ValueError) as exc:
            raise _parse_error(f"invalid public key {pk_text}") from exc
        rec = acct.keys.get(pk)
        if rec is None:  # nearcore answers this one inside `result` (legacy shape py-near relies on)
            return {"error": f"access key {public_key_to_str(pk)} does not exist while viewing", "logs": [], **at}
        return {**access_key_view(rec), **at}
    if rt == "view_access_key_list":
        assert acct is not None
        keys = [{"public_key": public_key_to_str(pk), "access_key": access_key_view(k)} for pk, k in acct.keys.items()]
        return {"keys": keys, **at}
    if rt == "view_state":
        assert acct is not None
        prefix = base64.b64decode(params.get("prefix_base64") or "")
        if params.get("include_proof"):
            raise _not_modelled("view_state proofs", "the devnet keeps no state trie")
        values = [{"key": b64(k), "value": b64(v)} for k, v in sorted(acct.storage.items()) if k.startswith(prefix)]
        return {"values": values, **at}
    if rt == "view_code":
        assert acct is not None
        code = node.codes.get(acct.code_hash)
        if code is None:
            raise QueryError(
                "NO_CONTRACT_CODE",
                f"Contract code for contract ID #{account_id} has never been observed on the node",
                {"contract_account_id": account_id, **at},
            )
        return {"code_base64": b64(code), "hash": b58(acct.code_hash), **at}
    if rt == "call_function":
        method = params.get("method_name")
        if not isinstance(method, str):
            raise _parse_error("missing field `method_name`")
        try:
            args = base64.b64decode(params.get("args_base64") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _parse_error("args_base64 is not base64") from exc
        try:
            outcome = node.call_view(account_id, method, args, at=block, account=acct)
        except QueryError as exc:
            exc.info.update(at)
            raise
        if outcome.error is not None:  # nearcore's legacy in-`result` shape: its vm_error text, no logs
            return {"error": vm_error_text(outcome.error, account_id), "logs": [], **at}
        return {"result": list(outcome.return_value or b""), "logs": list(outcome.logs), **at}
    raise _parse_error(f"unknown request_type {rt!r}")


def _status(devnet: Devnet, node: Node) -> dict[str, Any]:
    assert node.head is not None
    head = node.head
    genesis = node.blocks[node.genesis_height]
    root = devnet.keys.get(devnet.config.root_account_id)
    earliest = _earliest(node, devnet.history)
    return {
        "version": _status_version(),
        "chain_id": devnet.config.chain_id,
        "protocol_version": PROTOCOL_VERSION,
        "latest_protocol_version": PROTOCOL_VERSION,
        "rpc_addr": f"{devnet.config.host}:{devnet.port}",
        "validators": [{"account_id": devnet.config.root_account_id}],
        "sync_info": {
            "latest_block_hash": b58(head.hash),
            "latest_block_height": head.height,
            "latest_state_root": b58(bytes(32)),
            "latest_block_time": iso_time(head.timestamp_ns),
            "syncing": False,
            "earliest_block_hash": b58(earliest.hash),
            "earliest_block_height": earliest.height,
            "earliest_block_time": iso_time(earliest.timestamp_ns),
            "epoch_id": b58(bytes(32)),
            "epoch_start_height": genesis.height,
        },
        "validator_account_id": devnet.config.root_account_id,
        "validator_public_key": root.public_key_str if root else None,
        "node_public_key": root.public_key_str if root else "ed25519:" + b58(bytes(32)),
        "node_key": None,
        "uptime_sec": int(time.monotonic() - devnet.started_at),
        "genesis_hash": b58(genesis.hash),
        "detailed_debug_status": None,
    }


def _status_version() -> dict[str, str]:
    return {"version": DEVNET_VERSION, "build": "offshore-devnet", "commit": _commit(), "rustc_version": ""}


@functools.cache
def _commit() -> str:
    """The git commit the devnet runs from (`status.version.commit`), or "unknown" outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


# ------------------------------------------------------------------ JSON-RPC methods


def _signed_tx_param(params: Any) -> bytes:
    raw: Any = None
    if isinstance(params, list) and params:
        raw = params[0]
    elif isinstance(params, dict):
        raw = params.get("signed_tx_base64")
    if not isinstance(raw, str):
        raise _parse_error("expected a base64 signed transaction")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _parse_error("signed transaction is not base64") from exc


def _tx_params(params: Any) -> tuple[bytes, str]:
    if isinstance(params, list) and len(params) >= 1:
        if len(params) == 1 and isinstance(params[0], str):
            # [signed_tx_base64]: look the transaction up by its own hash
            stx = decode_signed_transaction(base64.b64decode(params[0]))
            return stx.hash, "EXECUTED_OPTIMISTIC"
        h = params[0]
        wait = "EXECUTED_OPTIMISTIC"
    elif isinstance(params, dict):
        h = params.get("tx_hash")
        wait = str(params.get("wait_until") or "EXECUTED_OPTIMISTIC")
        if h is None and params.get("signed_tx_base64"):
            return decode_signed_transaction(base64.b64decode(params["signed_tx_base64"])).hash, wait
    else:
        raise _parse_error("expected [tx_hash, sender_account_id]")
    try:
        return base58.b58decode(str(h)), wait
    except ValueError as exc:
        raise _parse_error(f"invalid transaction hash {h}") from exc


async def _send(devnet: Devnet, raw: bytes, wait_until: str) -> Any:
    if wait_until not in _LEVELS:
        raise _parse_error(f"unknown wait_until {wait_until}")
    until = _LEVELS[wait_until]
    try:
        tx_hash = await devnet.submit(raw)
    except InvalidTxError as exc:
        raise _invalid_tx(exc) from exc
    except BorshError as exc:
        raise _parse_error(f"failed to decode transaction: {exc}") from exc
    if until is None:
        return {"final_execution_status": "NONE"}
    await _wait_tx(devnet, tx_hash, until)
    if until in ("included", "included_final"):  # nearcore answers these with the status alone
        return {"final_execution_status": await devnet.call(lambda n: execution_status(n, n.txs[tx_hash]))}
    return await devnet.call(lambda n: final_outcome_view(n, tx_hash))


async def _wait_tx(devnet: Devnet, tx_hash: bytes, until: Until) -> None:
    try:
        await devnet.wait_tx(tx_hash, until, devnet.config.tx_wait_timeout_s)
    except TimeoutError as exc:
        raise _timeout() from exc
    except InvalidTxError as exc:
        raise _invalid_tx(exc) from exc


async def _tx(devnet: Devnet, params: Any, with_receipts: bool) -> Any:
    tx_hash, wait_until = _tx_params(params)
    until = _LEVELS.get(wait_until, "executed")
    state = devnet.tx_state(tx_hash)
    known = await devnet.call(lambda n: tx_hash in n.txs or any(s.hash == tx_hash for s in n.pool))
    if not known and state != "rejected":
        raise _handler_error(
            "UNKNOWN_TRANSACTION",
            {"requested_transaction_hash": b58(tx_hash)},
            f"Transaction {b58(tx_hash)} doesn't exist",
        )
    if until is not None:
        await _wait_tx(devnet, tx_hash, until)
    included = await devnet.call(lambda n: tx_hash in n.txs)
    if not included:
        return {"final_execution_status": "NONE"}
    return await devnet.call(lambda n: final_outcome_view(n, tx_hash, with_receipts=with_receipts))


def _not_modelled(feature: str, reason: str) -> RpcError:
    """A nearcore feature the devnet deliberately does not model: a named error, never a fake answer."""
    return _handler_error(
        "NOT_MODELLED",
        {"feature": feature, "reason": reason},
        f"{feature} is not modelled by the devnet: {reason} (see devnet/README.md)",
    )


# JSON-RPC methods the devnet answers (nearcore's names; `devnet_advance_time` is the devnet's own).
SERVED_METHODS = (
    "status",
    "health",
    "block",
    "chunk",
    "query",
    "gas_price",
    "broadcast_tx_async",
    "broadcast_tx_commit",
    "send_tx",
    "tx",
    "EXPERIMENTAL_tx_status",
    "EXPERIMENTAL_receipt",
    "EXPERIMENTAL_protocol_config",
    "genesis_config",
    "EXPERIMENTAL_genesis_config",
    "client_config",
    "network_info",
    "validators",
    "EXPERIMENTAL_validators_ordered",
    "changes",
    "EXPERIMENTAL_changes",
    "EXPERIMENTAL_changes_in_block",
    "block_effects",
    "devnet_advance_time",
)

# JSON-RPC methods nearcore serves that the devnet answers with NOT_MODELLED, and why.
NOT_MODELLED: dict[str, str] = {
    "light_client_proof": "the devnet keeps no merkle trees, so there is nothing to prove against",
    "EXPERIMENTAL_light_client_proof": "the devnet keeps no merkle trees, so there is nothing to prove against",
    "next_light_client_block": "no validator signatures or block approvals exist on a one-producer chain",
    "EXPERIMENTAL_light_client_block_proof": "the devnet keeps no block merkle tree",
    "EXPERIMENTAL_light_client_state_proof": "the devnet keeps no state trie",
    "EXPERIMENTAL_light_client_execution_outcome_proof": "the devnet keeps no outcome merkle tree",
    "EXPERIMENTAL_light_client_chunk_execution_proof": "the devnet keeps no chunk merkle tree",
    "EXPERIMENTAL_congestion_level": "congestion control is not modelled (one shard, no delayed receipts)",
    "EXPERIMENTAL_split_storage_info": "the devnet has no hot/cold storage",
    "EXPERIMENTAL_maintenance_windows": "the devnet has no validator schedule",
    "maintenance_windows": "the devnet has no validator schedule",
}


def _validator_key(devnet: Devnet) -> str:
    root = devnet.keys.get(devnet.config.root_account_id)
    return root.public_key_str if root is not None else "ed25519:" + b58(bytes(32))


def _receipt(node: Node, params: Any) -> dict[str, Any]:
    rid_text = params.get("receipt_id") if isinstance(params, dict) else None
    try:
        rid = base58.b58decode(str(rid_text))
    except ValueError:
        rid = b""
    r = node.receipts.get(rid)
    if r is None:
        raise QueryError(
            "UNKNOWN_RECEIPT",
            f"Receipt with id {rid_text} has never been observed on this node",
            {"receipt_id": rid_text},
        )
    return receipt_view(r)


def _changes(node: Node, history: History, params: Any, by_type: bool) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise _parse_error("expected an object with a block reference")
    block = _block_ref(node, params, history)
    if by_type:
        return changes_by_type(node, history, block, params)
    return changes_in_block(node, history, block)


async def _dispatch(devnet: Devnet, method: str, params: Any) -> Any:
    if method == "status":
        return await devnet.call(lambda n: _status(devnet, n))
    if method == "block":
        return await devnet.call(lambda n: block_view(n, _block_ref(n, params, devnet.history)))
    if method == "chunk":
        return await devnet.call(lambda n: _chunk(n, params))
    if method == "query":
        return await devnet.call(lambda n: _query(n, devnet.history, params))
    if method == "gas_price":
        return await devnet.call(lambda n: {"gas_price": str(_block_ref(n, params).gas_price)})
    if method == "EXPERIMENTAL_protocol_config":
        return await devnet.call(lambda n: protocol_config(n, PROTOCOL_VERSION))
    if method in ("genesis_config", "EXPERIMENTAL_genesis_config"):
        return await devnet.call(lambda n: genesis_config(n, PROTOCOL_VERSION, _validator_key(devnet)))
    if method == "client_config":
        addr = f"{devnet.config.host}:{devnet.port}"
        return await devnet.call(lambda n: client_config(n, addr, _status_version()))
    if method == "network_info":
        return network_info()
    if method == "validators":
        return await devnet.call(lambda n: validators(n, _validator_key(devnet)))
    if method == "EXPERIMENTAL_validators_ordered":
        return await devnet.call(lambda n: validators_ordered(n, _validator_key(devnet)))
    if method == "EXPERIMENTAL_receipt":
        return await devnet.call(lambda n: _receipt(n, params))
    if method in ("changes", "EXPERIMENTAL_changes"):
        return await devnet.call(lambda n: _changes(n, devnet.history, params, by_type=True))
    if method in ("block_effects", "EXPERIMENTAL_changes_in_block"):
        return await devnet.call(lambda n: _changes(n, devnet.history, params, by_type=False))
    if method in NOT_MODELLED:
        raise _not_modelled(method, NOT_MODELLED[method])
    if method == "broadcast_tx_async":
        raw = _signed_tx_param(params)
        try:
            return b58(await devnet.submit(raw))
        except InvalidTxError as exc:
            raise _invalid_tx(exc) from exc
        except BorshError as exc:
            raise _parse_error(f"failed to decode transaction: {exc}") from exc
    if method == "broadcast_tx_commit":
        return await _send(devnet, _signed_tx_param(params), "EXECUTED_OPTIMISTIC")
    if method == "send_tx":
        wait = params.get("wait_until", "EXECUTED_OPTIMISTIC") if isinstance(params, dict) else "EXECUTED_OPTIMISTIC"
        return await _send(devnet, _signed_tx_param(params), str(wait))
    if method == "tx":
        return await _tx(devnet, params, with_receipts=False)
    if method == "EXPERIMENTAL_tx_status":
        return await _tx(devnet, params, with_receipts=True)
    if method == "health":
        return None
    if method == "devnet_advance_time":  # devnet only, like near-sandbox's sandbox_fast_forward
        seconds = params.get("seconds") if isinstance(params, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            raise _parse_error('devnet_advance_time expects {"seconds": <non-negative number>}')
        return {"time_offset_ns": await devnet.advance_time(float(seconds))}
    raise RpcError(
        {
            "name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "METHOD_NOT_FOUND", "info": {"method_name": method}},
            "code": -32601,
            "message": "Method not found",
            "data": method,
        }
    )


def _chunk(node: Node, params: Any) -> dict[str, Any]:
    chunk_id: Any = None
    if isinstance(params, list) and params:
        chunk_id = params[0]
    elif isinstance(params, dict):
        chunk_id = params.get("chunk_id")
        if chunk_id is None:
            return chunk_view(node, _block_ref(node, params))
    try:
        height = node.chunk_by_hash.get(base58.b58decode(str(chunk_id)))
    except ValueError:
        height = None
    if height is None:
        raise QueryError(
            "UNKNOWN_CHUNK", f"Chunk Missing (unavailable on the node): {chunk_id}", {"chunk_hash": chunk_id}
        )
    return chunk_view(node, node.blocks[height])


async def _rpc(request: web.Request) -> web.Response:
    devnet = request.app[_DEVNET_KEY]
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        return _json({"jsonrpc": "2.0", "id": None, "error": _parse_error("request body is not JSON").body})
    if not isinstance(body, dict):
        return _json({"jsonrpc": "2.0", "id": None, "error": _parse_error("expected a JSON-RPC object").body})
    rid = body.get("id")
    cfg = devnet.config
    if cfg.rpc_latency_s > 0:
        await asyncio.sleep(cfg.rpc_latency_s)  # injected latency (fault), not a readiness wait
    if devnet.fault(cfg.rpc_error_rate):
        return _json({"jsonrpc": "2.0", "id": rid, "error": _internal_error("injected fault").body})
    try:
        result = await _dispatch(devnet, str(body.get("method")), body.get("params"))
        out: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "result": result}
    except RpcError as exc:
        out = {"jsonrpc": "2.0", "id": rid, "error": exc.body}
    except QueryError as exc:
        out = {"jsonrpc": "2.0", "id": rid, "error": _handler_error(exc.name, exc.info, exc.message).body}
    except (BorshError, VmUnavailableError) as exc:
        out = {"jsonrpc": "2.0", "id": rid, "error": _internal_error(str(exc)).body}
    if devnet.fault(cfg.rpc_lost_response_rate):
        return _json({"jsonrpc": "2.0", "id": rid, "error": _internal_error("injected fault: response lost").body})
    return _json(out)


async def _status_get(request: web.Request) -> web.Response:
    devnet = request.app[_DEVNET_KEY]
    return _json(await devnet.call(lambda n: _status(devnet, n)))


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(obj).encode(), status=status, content_type="application/json")


# ------------------------------------------------------------------ neardata block API


async def _block_api_faults(devnet: Devnet) -> web.Response | None:
    cfg = devnet.config
    if cfg.block_api_latency_s > 0:
        await asyncio.sleep(cfg.block_api_latency_s)  # injected latency (fault), not a readiness wait
    if devnet.fault(cfg.block_api_error_rate):
        return _json("Cache error: injected fault", status=500)
    return None


async def _v0_block(request: web.Request) -> web.Response:
    devnet = request.app[_DEVNET_KEY]
    fault = await _block_api_faults(devnet)
    if fault is not None:
        return fault
    try:
        height = int(request.match_info["height"])
    except ValueError:
        return _json("Invalid argument", status=400)
    headers_only = request.path.endswith("/headers")
    optimistic = request.path.startswith("/v0/block_opt/")
    if height < devnet.genesis_height:
        return _json({"error": "Block height is before the genesis", "type": "BLOCK_HEIGHT_TOO_LOW"}, status=404)
    # /v0/block serves final blocks only (as neardata). A height up to 10 above the final one is held
    # until it is final (neardata-server src/api.rs MAX_WAIT_BLOCKS; neardata re-checks every 100 ms,
    # the devnet wakes when the block is final); a higher one does not exist yet.
    newest = devnet.head_height if optimistic else devnet.final_height
    if height > newest and (optimistic or height > newest + _HOLD_BLOCKS):
        return _json({"error": "The block is too far in the future", "type": "BLOCK_DOES_NOT_EXIST"}, status=404)
    if height > newest and not await devnet.hold_until_final(height, _HOLD_S):
        # the chain stalled or the devnet is stopping: an error to retry, not "does not hold" (404)
        return _json("Cache error: the block is not produced yet", status=503)
    cache = request.app[_CACHE_KEY]
    key = f"{height}{'/h' if headers_only else ''}"
    body = cache.get(key)
    if body is None:

        def render(n: Node) -> bytes:
            b = n.blocks.get(height)
            if b is None:
                return b"null"  # a skipped height
            doc = block_view(n, b) if headers_only else neardata_block(n, b)
            return json.dumps(doc).encode()

        body = await devnet.call(render)
        cache[key] = body
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def _v0_last_final(request: web.Request) -> web.Response:
    devnet = request.app[_DEVNET_KEY]
    fault = await _block_api_faults(devnet)
    if fault is not None:
        return fault
    suffix = "/headers" if request.path.endswith("/headers") else ""
    if request.path.startswith("/v0/last_block/optimistic"):
        raise web.HTTPFound(f"/v0/block_opt/{devnet.head_height}{suffix}")
    raise web.HTTPFound(f"/v0/block/{devnet.final_height}{suffix}")


async def _v0_first(request: web.Request) -> web.Response:
    devnet = request.app[_DEVNET_KEY]
    raise web.HTTPFound(f"/v0/block/{devnet.genesis_height}")


async def _health(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


def make_app(devnet: Devnet) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[_DEVNET_KEY] = devnet
    app[_CACHE_KEY] = OrderedDict()
    app.router.add_post("/", _rpc)
    app.router.add_get("/status", _status_get)
    app.router.add_get("/health", _health)
    app.router.add_get("/v0/block/{height}", _v0_block)
    app.router.add_get("/v0/block/{height}/headers", _v0_block)
    app.router.add_get("/v0/last_block/final", _v0_last_final)
    app.router.add_get("/v0/last_block/final/headers", _v0_last_final)
    app.router.add_get("/v0/block_opt/{height}", _v0_block)
    app.router.add_get("/v0/last_block/optimistic", _v0_last_final)
    app.router.add_get("/v0/first_block", _v0_first)
    return app
