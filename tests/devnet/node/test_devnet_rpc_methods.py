"""What the added JSON-RPC methods say (their shapes are checked in test_devnet_rpc_schema.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devnet import Devnet
from devnet.node.model import STORAGE_BYTE_COST
from devnet.node.views import PROTOCOL_VERSION
from devnet.vm.types import Transfer

pytestmark = pytest.mark.asyncio(loop_scope="session")
ALICE = "alice.test.near"
BOB = "bob.test.near"


async def _rpc(devnet: Devnet, method: str, params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": "t", "method": method, "params": params}
    async with aiohttp.ClientSession() as s, s.post(devnet.rpc_url, json=body) as resp:
        out: dict[str, Any] = await resp.json()
        return out


async def test_status_names_the_commit_and_the_modelled_protocol(devnet: Devnet) -> None:
    status = (await _rpc(devnet, "status", None))["result"]
    git = await asyncio.create_subprocess_exec(
        "git", "rev-parse", "HEAD", cwd=Path(__file__).parent, stdout=asyncio.subprocess.PIPE
    )
    head, _ = await git.communicate()
    assert status["version"]["commit"] == head.decode().strip() and len(status["version"]["commit"]) == 40
    assert status["protocol_version"] == status["latest_protocol_version"] == PROTOCOL_VERSION


async def test_protocol_and_genesis_config_state_what_the_chain_enforces(devnet: Devnet) -> None:
    cfg = (await _rpc(devnet, "EXPERIMENTAL_protocol_config", {"finality": "final"}))["result"]
    assert int(cfg["runtime_config"]["storage_amount_per_byte"]) == STORAGE_BYTE_COST
    assert cfg["runtime_config"]["account_creation_config"]["registrar_account_id"] == devnet.config.root_account_id
    assert cfg["runtime_config"]["wasm_config"]["limit_config"]["yield_timeout_length_in_blocks"] == (
        devnet.config.yield_timeout_blocks
    )
    assert (cfg["min_gas_price"], cfg["chain_id"]) == (str(devnet.config.gas_price), devnet.config.chain_id)
    genesis = (await _rpc(devnet, "genesis_config", None))["result"]
    assert genesis["genesis_height"] == devnet.genesis_height
    assert genesis["transaction_validity_period"] == devnet.config.tx_validity_blocks
    root_key = devnet.key(devnet.config.root_account_id).public_key_str
    assert genesis["validators"] == [
        {"account_id": devnet.config.root_account_id, "public_key": root_key, "amount": "0"}
    ]
    validators = (await _rpc(devnet, "validators", [None]))["result"]
    assert [v["account_id"] for v in validators["current_validators"]] == [devnet.config.root_account_id]


async def test_receipt_by_id(devnet: Devnet) -> None:
    view = await devnet.wait_for_tx(await devnet.sign_and_submit(ALICE, BOB, [Transfer(deposit=3)]))
    rid = view["transaction_outcome"]["outcome"]["receipt_ids"][0]
    receipt = (await _rpc(devnet, "EXPERIMENTAL_receipt", {"receipt_id": rid}))["result"]
    assert (receipt["receipt_id"], receipt["predecessor_id"], receipt["receiver_id"]) == (rid, ALICE, BOB)
    assert receipt["receipt"]["Action"]["actions"] == [{"Transfer": {"deposit": "3"}}]
    err = (await _rpc(devnet, "EXPERIMENTAL_receipt", {"receipt_id": "11111111111111111111111111111111"}))["error"]
    assert err["cause"]["name"] == "UNKNOWN_RECEIPT"


async def test_light_client_proofs_are_named_as_not_modelled(devnet: Devnet) -> None:
    err = (await _rpc(devnet, "light_client_proof", {"type": "transaction"}))["error"]
    assert err["cause"] == {
        "name": "NOT_MODELLED",
        "info": {
            "feature": "light_client_proof",
            "reason": "the devnet keeps no merkle trees, so there is nothing to prove against",
        },
    }
    unknown = (await _rpc(devnet, "no_such_method", None))["error"]
    assert unknown["cause"]["name"] == "METHOD_NOT_FOUND"  # not to be confused with a real method not modelled
