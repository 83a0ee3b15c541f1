"""Conformance: every JSON-RPC method the devnet serves, checked against nearcore's published schema.

The schema is nearcore's JSON-RPC OpenAPI spec as generated Pydantic models (PyPI
`near-jsonrpc-client`, pinned in pyproject.toml). Which request and response model belong to which
method is read from that package's own generated client, so the pairing is theirs, not ours. Each
request is built and serialised by the request model (exactly what that client sends), and each
answer, success or error, must validate against the method's response model.

Deliberate deviations, asserted here so they stay deliberate:
- nearcore answers a failed `call_function` and an unknown access key inside `result` as
  `{"error", "logs", "block_height", "block_hash"}`; the OpenAPI spec does not describe that legacy
  shape (nearcore's own lib.rs does), so those answers are checked against that shape instead.
- nearcore's transaction answers without an outcome (`wait_until` NONE / INCLUDED /
  INCLUDED_FINAL) are `{"final_execution_status": ...}` alone; the generated spec loses that Option.
- methods the devnet does not model answer `HANDLER_ERROR` / `NOT_MODELLED` (not in nearcore's
  enums, on purpose: a client must not mistake it for a real node's answer).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any

import aiohttp
import base58
import near_jsonrpc_client.api_methods_async as generated_client
import near_jsonrpc_models
import pytest
from py_near import transactions
from pydantic import BaseModel

from devnet import Devnet
from devnet.server import NOT_MODELLED, SERVED_METHODS
from devnet.vm.types import FunctionCall, Transfer

pytestmark = pytest.mark.asyncio(loop_scope="session")
ALICE = "alice.test.near"
BOB = "bob.test.near"
CONTRACT = "contract.test.near"
DEVNET_ONLY = {"devnet_advance_time"}


def _schema_pairs() -> dict[str, tuple[type[BaseModel], type[BaseModel]]]:
    """method -> (request model, response model), as near-jsonrpc-client's generated client pairs them."""
    source = inspect.getsource(generated_client)
    pairs = re.findall(r"request_model=near_jsonrpc_models\.(\w+),\s*response_model=near_jsonrpc_models\.(\w+)", source)
    out = {}
    for req_name, resp_name in pairs:
        req = getattr(near_jsonrpc_models, req_name)
        (method,) = req.model_fields["method"].annotation.__args__
        out[method] = (req, getattr(near_jsonrpc_models, resp_name))
    return out


SCHEMA = _schema_pairs()
# every method name nearcore's spec has a request type for (some have no generated client method)
NEARCORE_METHODS = {
    cls.model_fields["method"].annotation.__args__[0]
    for info in pkgutil.iter_modules(near_jsonrpc_models.__path__)
    if info.name.startswith("json_rpc_request_for_")
    for cls in vars(importlib.import_module(f"near_jsonrpc_models.{info.name}")).values()
    if isinstance(cls, type) and cls.__name__.startswith("JsonRpcRequestFor")
}


class Checker:
    def __init__(self, devnet: Devnet, session: aiohttp.ClientSession) -> None:
        self.devnet = devnet
        self.session = session
        self.checked: dict[str, set[str]] = {}

    async def call(self, method: str, params: Any, expect: str) -> Any:
        """Send `params` as the schema's request model serialises them; validate the whole answer."""
        req_model, resp_model = SCHEMA[method]
        request = req_model.model_validate({"jsonrpc": "2.0", "id": "c", "method": method, "params": params})
        payload = request.model_dump(mode="json", by_alias=True)
        async with self.session.post(self.devnet.rpc_url, json=payload) as r:
            assert r.status == 200
            body = await r.json()
        assert expect in body, (method, params, body)
        if (
            expect == "result"
            and isinstance(body["result"], dict)
            and set(body["result"]) == {"final_execution_status"}
        ):
            # nearcore's RpcTransactionResponse flattens an Option<outcome>: without an outcome (waits
            # NONE / INCLUDED / INCLUDED_FINAL) only the status is sent, which the generated spec omits
            near_jsonrpc_models.TxExecutionStatus.model_validate(body["result"]["final_execution_status"])
        else:
            resp_model.model_validate(body)  # raises with the exact field path if the devnet strays
        self.checked.setdefault(method, set()).add(expect)
        return body[expect]

    async def legacy_error(self, params: dict[str, Any]) -> dict[str, Any]:
        """query answers nearcore gives inside `result` (see module docstring)."""
        payload = {"jsonrpc": "2.0", "id": "c", "method": "query", "params": params}
        SCHEMA["query"][0].model_validate(payload)
        async with self.session.post(self.devnet.rpc_url, json=payload) as r:
            result: dict[str, Any] = (await r.json())["result"]
        assert set(result) == {"error", "logs", "block_height", "block_hash"}
        assert result["logs"] == [] and isinstance(result["error"], str)
        near_jsonrpc_models.CryptoHash.model_validate(result["block_hash"])
        return result


def _signed(devnet: Devnet, nonce: int, block_hash: str, amount: int = 1) -> str:
    key = devnet.key(ALICE)
    return str(
        transactions.sign_and_serialize_transaction(
            ALICE,
            key.secret + key.public_key,
            BOB,
            nonce,
            [transactions.create_transfer_action(amount)],
            base58.b58decode(block_hash),
        )
    )


async def test_every_served_method_matches_nearcores_schema(devnet: Devnet) -> None:
    tx0 = await devnet.sign_and_submit(
        ALICE, CONTRACT, [FunctionCall(method_name="set", args=b'"v"', gas=30 * 10**12, deposit=0)]
    )
    view0 = await devnet.wait_for_tx(tx0)
    await devnet.wait_for_final_height(devnet.head_height)
    async with aiohttp.ClientSession() as session:
        c = Checker(devnet, session)
        status = await c.call("status", None, "result")
        head_hash = status["sync_info"]["latest_block_hash"]
        await c.call("health", None, "result")
        final = await c.call("block", {"finality": "final"}, "result")
        await c.call("block", {"block_id": final["header"]["height"]}, "result")
        await c.call("block", {"block_id": 10**9}, "error")
        await c.call("chunk", {"chunk_id": final["chunks"][0]["chunk_hash"]}, "result")
        await c.call("chunk", {"block_id": final["header"]["hash"], "shard_id": 0}, "result")
        await c.call("chunk", {"chunk_id": base58.b58encode(bytes(32)).decode()}, "error")
        await c.call("gas_price", {"block_id": None}, "result")
        await c.call("gas_price", {"block_id": 10**9}, "error")

        # query: every request type, at a finality and at a height, and the error causes
        ref = {"finality": "final"}
        pk = devnet.key(ALICE).public_key_str
        for q in (
            {"request_type": "view_account", "account_id": ALICE},
            {"request_type": "view_access_key", "account_id": ALICE, "public_key": pk},
            {"request_type": "view_access_key_list", "account_id": ALICE},
            {"request_type": "view_code", "account_id": CONTRACT},
            {"request_type": "view_state", "account_id": CONTRACT, "prefix_base64": ""},
            {
                "request_type": "call_function",
                "account_id": CONTRACT,
                "method_name": "get",
                "args_base64": "",
            },
        ):
            await c.call("query", {**q, **ref}, "result")
            await c.call("query", {**q, "block_id": final["header"]["height"]}, "result")
        for q in (
            {"request_type": "view_account", "account_id": "nobody.test.near"},  # UNKNOWN_ACCOUNT
            {"request_type": "view_code", "account_id": BOB},  # NO_CONTRACT_CODE
            {"request_type": "view_account", "account_id": ALICE, "block_id": 10**9},  # UNKNOWN_BLOCK
        ):
            await c.call("query", {**ref, **q}, "error")
        missing = await c.legacy_error(
            {"request_type": "call_function", "account_id": CONTRACT, "method_name": "nope", "args_base64": "", **ref}
        )
        assert missing["error"] == "wasm execution failed with error: MethodResolveError(MethodNotFound)"
        other = base58.b58encode(bytes(31) + b"\x01").decode()
        no_key = await c.legacy_error(
            {"request_type": "view_access_key", "account_id": ALICE, "public_key": f"ed25519:{other}", **ref}
        )
        assert no_key["error"].startswith("access key ed25519:")

        # transactions: every send method and wait level, and the invalid ones
        ak = await c.call(
            "query",
            {"request_type": "view_access_key", "account_id": ALICE, "public_key": pk, "finality": "optimistic"},
            "result",
        )
        nonce = ak["nonce"]
        await c.call("broadcast_tx_async", {"signed_tx_base64": _signed(devnet, nonce + 1, head_hash)}, "result")
        commit = await c.call(
            "broadcast_tx_commit", {"signed_tx_base64": _signed(devnet, nonce + 2, head_hash)}, "result"
        )
        for i, wait in enumerate(("NONE", "INCLUDED", "EXECUTED_OPTIMISTIC", "INCLUDED_FINAL", "EXECUTED", "FINAL")):
            signed = _signed(devnet, nonce + 3 + i, head_hash)
            await c.call("send_tx", {"signed_tx_base64": signed, "wait_until": wait}, "result")
        stale = _signed(devnet, nonce, head_hash)  # InvalidNonce
        for method in ("broadcast_tx_async", "broadcast_tx_commit"):
            await c.call(method, {"signed_tx_base64": stale}, "error")
        await c.call("send_tx", {"signed_tx_base64": stale, "wait_until": "FINAL"}, "error")
        tx_hash = commit["transaction"]["hash"]
        for method in ("tx", "EXPERIMENTAL_tx_status"):
            for wait in ("NONE", "EXECUTED_OPTIMISTIC", "FINAL"):
                await c.call(method, {"tx_hash": tx_hash, "sender_account_id": ALICE, "wait_until": wait}, "result")
            unknown = {"tx_hash": base58.b58encode(bytes(32)).decode(), "sender_account_id": ALICE}
            await c.call(method, unknown, "error")
        receipt_id = view0["receipts_outcome"][0]["id"]
        await c.call("EXPERIMENTAL_receipt", {"receipt_id": receipt_id}, "result")
        await c.call("EXPERIMENTAL_receipt", {"receipt_id": base58.b58encode(bytes(32)).decode()}, "error")

        # configuration documents, validators, network
        await c.call("EXPERIMENTAL_protocol_config", {"finality": "final"}, "result")
        await c.call("genesis_config", None, "result")
        await c.call("EXPERIMENTAL_genesis_config", None, "result")
        await c.call("client_config", None, "result")
        await c.call("network_info", None, "result")
        await c.call("validators", {"block_id": final["header"]["height"]}, "result")
        await c.call("EXPERIMENTAL_validators_ordered", {"block_id": None}, "result")

        # state changes of the block where the `set` receipt ran
        block_of_set = view0["receipts_outcome"][0]["block_hash"]
        for method in ("changes", "EXPERIMENTAL_changes"):
            for changes_type, extra in (
                ("account_changes", {"account_ids": [CONTRACT, ALICE]}),
                ("data_changes", {"account_ids": [CONTRACT], "key_prefix_base64": ""}),
                ("all_access_key_changes", {"account_ids": [ALICE]}),
                ("single_access_key_changes", {"keys": [{"account_id": ALICE, "public_key": pk}]}),
                ("contract_code_changes", {"account_ids": [CONTRACT]}),
            ):
                await c.call(method, {"block_id": block_of_set, "changes_type": changes_type, **extra}, "result")
            await c.call(
                method, {"block_id": 10**9, "changes_type": "account_changes", "account_ids": [ALICE]}, "error"
            )
        for method in ("EXPERIMENTAL_changes_in_block", "block_effects"):
            await c.call(method, {"block_id": block_of_set}, "result")
            await c.call(method, {"finality": "final"}, "result")
            await c.call(method, {"block_id": 10**9}, "error")

        # what the devnet does not model: a named error with nearcore's envelope
        for method in NOT_MODELLED:
            payload = {"jsonrpc": "2.0", "id": "c", "method": method, "params": {}}
            async with session.post(devnet.rpc_url, json=payload) as r:
                err = (await r.json())["error"]
            assert (err["name"], err["cause"]["name"], err["code"]) == ("HANDLER_ERROR", "NOT_MODELLED", -32000)
            assert "not modelled by the devnet" in err["data"]
            assert method in NEARCORE_METHODS, f"{method} is not a nearcore method"

    served = set(SERVED_METHODS) - DEVNET_ONLY
    assert served <= set(SCHEMA), served - set(SCHEMA)  # nearcore names every method the devnet serves
    assert set(c.checked) == served, served - set(c.checked)  # ... and each one was checked here
    with_errors = {m for m, kinds in c.checked.items() if "error" in kinds}
    no_error_case = {"status", "health", "EXPERIMENTAL_protocol_config", "genesis_config",
                     "EXPERIMENTAL_genesis_config", "client_config", "network_info", "validators",
                     "EXPERIMENTAL_validators_ordered"}  # fmt: skip
    assert served - no_error_case <= with_errors


async def test_transfer_changes_are_reported_with_their_cause(devnet: Devnet) -> None:
    tx = await devnet.sign_and_submit(ALICE, BOB, [Transfer(deposit=7)])
    view = await devnet.wait_for_tx(tx)
    receipt_block = view["receipts_outcome"][0]["block_hash"]
    async with aiohttp.ClientSession() as session:
        c = Checker(devnet, session)
        got = await c.call(
            "EXPERIMENTAL_changes",
            {"block_id": receipt_block, "changes_type": "account_changes", "account_ids": [BOB]},
            "result",
        )
        (change,) = got["changes"]
        assert change["type"] == "account_update" and change["change"]["account_id"] == BOB
        assert change["cause"] == {"type": "receipt_processing", "receipt_hash": view["receipts_outcome"][0]["id"]}
        touched = await c.call("block_effects", {"block_id": receipt_block}, "result")
        assert {"type": "account_touched", "account_id": BOB} in touched["changes"]
        tx_block = view["transaction_outcome"]["block_hash"]
        got = await c.call(
            "changes",
            {"block_id": tx_block, "changes_type": "all_access_key_changes", "account_ids": [ALICE]},
            "result",
        )
        nonces = [ch["change"]["access_key"]["nonce"] for ch in got["changes"]]
        assert nonces == [view["transaction"]["nonce"]]  # the key's nonce moved in the inclusion block
        assert got["changes"][0]["cause"] == {"type": "transaction_processing", "tx_hash": view["transaction"]["hash"]}
