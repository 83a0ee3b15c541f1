"""Waiting on requests by following final blocks (offshore/follow.py) on the devnet node with the offshore
contract: settlement is seen from the contract's events in the block API, each request's view is read
once before and once after (never polled), a request settled before the wait costs one read, and
`OffshoreClient.wait_many` returns the same records as `get_request`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from py_near.account import Account
from py_near.transactions import create_function_call_action

from contract import OFFSHORE_SOURCE, build_contract
from contract.testing import SOURCE, used
from devnet import NEAR, TGAS, ContractDeployment, Devnet, DevnetConfig, GenesisAccount
from offshore.client import OffshoreClient
from offshore.follow import wait_settled
from streams.settle.batching import batch_args, item_args

pytestmark = pytest.mark.asyncio(loop_scope="session")
OFFSHORE = "offshore.test.near"
OPERATOR = "operator.test.near"
ALICE = "alice.test.near"


async def test_wait_follows_blocks_and_reads_each_request_twice(tmp_path: Path) -> None:
    wasm = build_contract(OFFSHORE_SOURCE, tmp_path / "offshore.wasm")
    config = DevnetConfig(
        port=0,
        block_interval_s=0.02,
        yield_timeout_blocks=100_000,
        tx_wait_timeout_s=30.0,
        credentials_dir=tmp_path / "credentials",
        genesis_accounts=tuple(GenesisAccount(account_id=a, balance=100 * NEAR) for a in (OPERATOR, ALICE)),
        deploy=(
            ContractDeployment(
                account_id=OFFSHORE,
                wasm_path=wasm,
                init_method="new",
                init_args=json.dumps({"owner_id": OPERATOR, "operator_id": OPERATOR}).encode(),
            ),
        ),
    )
    async with Devnet(config) as d:
        client = OffshoreClient(
            rpc_url=d.rpc_url,
            account_id=ALICE,
            secret_key=d.key(ALICE).secret_key_str,
            contract_id=OFFSHORE,
            block_api_url=d.block_api_url,
        )
        operator = Account(OPERATOR, d.key(OPERATOR).secret_key_str, rpc_addr=d.rpc_url)
        await operator.startup()
        async with client:
            try:
                while True:  # poll: the init transaction lands a block or two after start
                    try:
                        await client.estimate({})
                        break
                    except Exception:
                        await asyncio.sleep(0.05)  # poll
                subs = [await client.request(repo=SOURCE["repo"], commit=SOURCE["commit"]) for _ in range(4)]
                ids = [s.request_id for s in subs]
                early, later = ids[:1], ids[1:]

                async def resolve(rids: list[str]) -> None:
                    response = {"success": True, "output": "done", "resources_used": used(10, 1, 0)}
                    args = batch_args([item_args(r, response) for r in rids])
                    action = create_function_call_action("resolve_executions", args, 300 * TGAS, 0)
                    result = await operator.sign_and_submit_tx(OFFSHORE, [action])
                    assert "SuccessValue" in result.status

                await resolve(early)
                await client.wait(early[0], timeout_s=60)  # settled before the wait below starts

                reads: list[str] = []
                first_reads = asyncio.Event()

                async def view(rid: str) -> dict[str, Any] | None:
                    reads.append(rid)
                    if len(reads) == len(ids):
                        first_reads.set()  # the reads before following starts
                    return await client.get_request(rid)

                waiting = asyncio.create_task(
                    wait_settled(ids, view=view, block_api_url=d.block_api_url, contract_id=OFFSHORE, timeout_s=60)
                )
                await first_reads.wait()
                await resolve(later)
                records = await waiting
                assert [records[r]["status"] for r in ids] == ["completed"] * 4
                assert sorted(reads) == sorted(ids + later)  # once each, twice for those still pending
                assert records == await client.wait_many(ids, timeout_s=10)
            finally:
                await operator.shutdown()
