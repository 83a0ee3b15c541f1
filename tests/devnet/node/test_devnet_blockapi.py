"""The neardata-style block API and the JSON-RPC methods beyond py-near's happy path."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import base58
import pytest
from py_near import transactions
from py_near.account import Account

from devnet import Devnet, DevnetConfig

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTRACT = "contract.test.near"
ALICE = "alice.test.near"
BOB = "bob.test.near"
AccountFactory = Callable[..., Awaitable[Account]]


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        return resp.status, await resp.json(content_type=None)


async def _rpc(devnet: Devnet, method: str, params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": "t", "method": method, "params": params}
    async with aiohttp.ClientSession() as s, s.post(devnet.rpc_url, json=body) as resp:
        assert resp.status == 200
        out: dict[str, Any] = await resp.json()
        return out


async def test_contract_log_at_neardata_path(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    event = 'EVENT_JSON:{"standard":"near-offshore","version":"1.0.0","event":"x","data":[]}'
    ok = await alice.function_call(CONTRACT, "log", event)
    failed = await alice.function_call(CONTRACT, "fail", "nope")
    await devnet.wait_for_final_height(devnet.head_height)  # /v0/block serves final blocks only
    found: dict[str, dict[str, Any]] = {}
    for height in range(devnet.genesis_height, devnet.final_height + 1):
        status, block = await _get(f"{devnet.block_api_url}/block/{height}")
        assert status == 200
        assert block["block"]["header"]["height"] == height
        for shard in block["shards"]:
            for reo in shard["receipt_execution_outcomes"]:
                found[reo["execution_outcome"]["id"]] = reo
    ok_reo = found[ok.receipt_outcome[0].receipt_id]
    assert ok_reo["execution_outcome"]["outcome"]["logs"] == [json.dumps(event)]
    assert ok_reo["receipt"]["receiver_id"] == CONTRACT
    assert ok_reo["receipt"]["predecessor_id"] == ALICE
    assert ok_reo["tx_hash"] == ok.transaction.hash
    assert "SuccessValue" in ok_reo["execution_outcome"]["outcome"]["status"]
    assert ok_reo["receipt"]["receipt"]["Action"]["actions"][0]["FunctionCall"]["method_name"] == "log"
    bad_reo = found[failed.receipt_outcome[0].receipt_id]
    assert "Failure" in bad_reo["execution_outcome"]["outcome"]["status"]
    assert bad_reo["execution_outcome"]["outcome"]["logs"] == ['"nope"']  # kept, as on NEAR


async def test_transactions_appear_in_their_chunk(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    res = await alice.send_money(BOB, 5)
    view = await _rpc(devnet, "tx", [res.transaction.hash, ALICE])
    block_hash = view["result"]["transaction_outcome"]["block_hash"]
    block = (await _rpc(devnet, "block", {"block_id": block_hash}))["result"]
    height = block["header"]["height"]
    status, optimistic = await _get(f"{devnet.block_api_url}/block_opt/{height}")
    assert status == 200 and optimistic["block"]["header"]["height"] == height
    await devnet.wait_for_final_height(height)  # /v0/block serves it once final (test_devnet_finality.py)
    status, doc = await _get(f"{devnet.block_api_url}/block/{height}")
    assert status == 200
    txs = doc["shards"][0]["chunk"]["transactions"]
    assert [t["transaction"]["hash"] for t in txs] == [res.transaction.hash]
    assert txs[0]["outcome"]["execution_outcome"]["outcome"]["executor_id"] == ALICE
    chunk = (await _rpc(devnet, "chunk", [block["chunks"][0]["chunk_hash"]]))["result"]
    assert [t["hash"] for t in chunk["transactions"]] == [res.transaction.hash]
    same = (await _rpc(devnet, "chunk", {"block_id": block["header"]["height"], "shard_id": 0}))["result"]
    assert same == chunk


async def test_block_api_edges(devnet_config: DevnetConfig) -> None:
    cfg = dataclasses.replace(devnet_config, skip_heights=frozenset({3, 4}))
    async with Devnet(cfg) as devnet:
        await devnet.wait_for_final_height(6)
        api = devnet.block_api_url
        assert await _get(f"{api}/block/3") == (200, None)
        assert await _get(f"{api}/block/4") == (200, None)
        status, block5 = await _get(f"{api}/block/5")
        assert status == 200
        assert block5["block"]["header"]["prev_height"] == 2
        status, err = await _get(f"{api}/block/{devnet.head_height + 100}")
        assert (status, err["type"]) == (404, "BLOCK_DOES_NOT_EXIST")
        status, first = await _get(f"{api}/first_block")
        assert (status, first["block"]["header"]["height"]) == (200, devnet.genesis_height)
        final_before = devnet.final_height
        status, last = await _get(f"{api}/last_block/final")
        assert status == 200 and last["block"]["header"]["height"] >= final_before
        status, headers = await _get(f"{api}/block/5/headers")
        assert (status, headers["header"]["height"]) == (200, 5)
        assert set(headers) == {"author", "header", "chunks"}  # neardata's /headers: no shards
        status, final_headers = await _get(f"{api}/last_block/final/headers")
        assert status == 200 and set(final_headers) == {"author", "header", "chunks"}
        assert final_headers["header"]["height"] >= final_before
        status, _ = await _get(f"{api}/block/not-a-number")
        assert status == 400


async def test_last_block_final_is_a_redirect(devnet: Devnet) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{devnet.block_api_url}/last_block/final", allow_redirects=False) as r,
    ):
        assert r.status == 302
        assert r.headers["Location"].startswith("/v0/block/")


async def test_rpc_methods_and_shapes(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    status = (await _rpc(devnet, "status", [None]))["result"]
    assert status["chain_id"] == "localnet" and status["sync_info"]["syncing"] is False
    head = status["sync_info"]["latest_block_height"]
    by_height = (await _rpc(devnet, "block", [head]))["result"]
    by_hash = (await _rpc(devnet, "block", {"block_id": by_height["header"]["hash"]}))["result"]
    assert by_hash == by_height
    final = (await _rpc(devnet, "block", {"finality": "final"}))["result"]["header"]["height"]
    assert head - devnet.config.final_lag_blocks <= final <= devnet.head_height
    unknown = (await _rpc(devnet, "block", [10**9]))["error"]
    assert unknown["cause"]["name"] == "UNKNOWN_BLOCK" and unknown["name"] == "HANDLER_ERROR"
    assert (await _rpc(devnet, "gas_price", [None]))["result"] == {"gas_price": str(devnet.config.gas_price)}
    missing = (await _rpc(devnet, "nope", []))["error"]
    assert missing["cause"]["name"] == "METHOD_NOT_FOUND"

    # call_function: a panicking view and an account without code
    bad = (
        await _rpc(
            devnet,
            "query",
            {
                "request_type": "call_function",
                "account_id": CONTRACT,
                "method_name": "fail",
                "args_base64": "eA==",
                "finality": "final",
            },
        )
    )["result"]
    # fail() writes storage: nearcore's text for it, and no logs (nearcore drops them on failure)
    assert bad["error"] == (
        'wasm execution failed with error: HostError(ProhibitedInView { method_name: "storage_write" })'
    )
    assert bad["logs"] == [] and "block_height" in bad
    no_code = (
        await _rpc(
            devnet,
            "query",
            {
                "request_type": "call_function",
                "account_id": BOB,
                "method_name": "get",
                "args_base64": "",
                "finality": "final",
            },
        )
    )["error"]
    assert no_code["cause"]["name"] == "NO_CONTRACT_CODE"

    # send_tx levels, resubmission, tx / EXPERIMENTAL_tx_status
    key = devnet.key(ALICE)
    ak = await alice.provider.get_access_key(ALICE, key.public_key_str)
    block_hash = base58.b58decode(status["sync_info"]["latest_block_hash"])
    signed = transactions.sign_and_serialize_transaction(
        ALICE, key.secret + key.public_key, BOB, ak["nonce"] + 1, [transactions.create_transfer_action(9)], block_hash
    )
    included = (await _rpc(devnet, "send_tx", {"signed_tx_base64": signed, "wait_until": "INCLUDED"}))["result"]
    assert included == {"final_execution_status": "INCLUDED"}  # its block is not final yet
    again = (await _rpc(devnet, "broadcast_tx_commit", [signed]))["result"]  # same tx: same result, no InvalidNonce
    assert again["status"] == {"SuccessValue": ""}
    assert again["final_execution_status"] in ("EXECUTED_OPTIMISTIC", "EXECUTED", "FINAL")
    tx_hash = again["transaction"]["hash"]
    full = (await _rpc(devnet, "EXPERIMENTAL_tx_status", {"tx_hash": tx_hash, "sender_account_id": ALICE}))["result"]
    assert full["receipts"][0]["receipt"]["Action"]["actions"] == [{"Transfer": {"deposit": "9"}}]
    assert full["transaction_outcome"]["outcome"]["receipt_ids"] == [full["receipts"][0]["receipt_id"]]
    gone = (await _rpc(devnet, "tx", ["11111111111111111111111111111111", ALICE]))["error"]
    assert gone["cause"]["name"] == "UNKNOWN_TRANSACTION"

    nonce = ak["nonce"] + 2
    signed2 = transactions.sign_and_serialize_transaction(
        ALICE, key.secret + key.public_key, BOB, nonce, [transactions.create_transfer_action(9)], block_hash
    )
    h = (await _rpc(devnet, "broadcast_tx_async", [signed2]))["result"]
    view = await devnet.wait_for_tx(h)
    assert view["transaction"]["nonce"] == nonce
    none = (await _rpc(devnet, "send_tx", {"signed_tx_base64": signed2, "wait_until": "NONE"}))["result"]
    assert none == {"final_execution_status": "NONE"}
    parse = (await _rpc(devnet, "broadcast_tx_async", ["not base64!"]))["error"]
    assert parse["cause"]["name"] == "PARSE_ERROR"
