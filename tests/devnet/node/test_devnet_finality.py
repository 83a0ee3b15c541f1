"""Finality lags the head (as on NEAR) and queries at an older block answer from that block's state.

Blocks are produced by hand (`block_interval_s=0`), so every assertion about "not final yet" is exact,
not a race against the block timer.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from typing import Any

import aiohttp
import base58
import pytest

from devnet import Devnet, DevnetConfig
from devnet.errors import DevnetError
from devnet.vm.types import FunctionCall, Transfer

pytestmark = pytest.mark.asyncio(loop_scope="session")
ALICE = "alice.test.near"
BOB = "bob.test.near"
CONTRACT = "contract.test.near"
TGAS = 10**12


async def _rpc(devnet: Devnet, method: str, params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": "t", "method": method, "params": params}
    async with aiohttp.ClientSession() as s, s.post(devnet.rpc_url, json=body) as resp:
        out: dict[str, Any] = await resp.json()
        return out


async def _balance(devnet: Devnet, account_id: str, **ref: Any) -> int:
    res = await _rpc(devnet, "query", {"request_type": "view_account", "account_id": account_id, **ref})
    return int(res["result"]["amount"])


async def _blocks(devnet: Devnet, n: int) -> None:
    for _ in range(n):
        await devnet.produce_block()


def _manual(cfg: DevnetConfig, **changes: Any) -> DevnetConfig:
    return dataclasses.replace(cfg, block_interval_s=0, **changes)


async def test_final_block_lags_the_head_by_two(devnet_config: DevnetConfig) -> None:
    async with Devnet(_manual(devnet_config)) as devnet:
        await _blocks(devnet, 5)
        head = devnet.head_height
        final = (await _rpc(devnet, "block", {"finality": "final"}))["result"]["header"]
        near_final = (await _rpc(devnet, "block", {"finality": "near-final"}))["result"]["header"]
        optimistic = (await _rpc(devnet, "block", {"finality": "optimistic"}))["result"]["header"]
        assert (final["height"], near_final["height"], optimistic["height"]) == (head - 2, head - 1, head)
        assert devnet.final_height == head - 2
        # each header names its own last final (2 back) and doomslug-final (1 back) block, as NEAR's do
        assert optimistic["last_final_block"] == final["hash"]
        assert optimistic["last_ds_final_block"] == near_final["hash"]
        bad = (await _rpc(devnet, "block", {"finality": "safe"}))["error"]
        assert (bad["name"], bad["cause"]["name"]) == ("REQUEST_VALIDATION_ERROR", "PARSE_ERROR")


async def test_read_after_write_sees_the_old_state_at_final(devnet_config: DevnetConfig) -> None:
    async with Devnet(_manual(devnet_config)) as devnet:
        before = await _balance(devnet, BOB, finality="final")
        await devnet.sign_and_submit(ALICE, BOB, [Transfer(deposit=10**24)])
        await _blocks(devnet, 2)  # included, then the transfer receipt runs
        assert await _balance(devnet, BOB, finality="optimistic") == before + 10**24  # executed at the head ...
        assert await _balance(devnet, BOB, finality="final") == before  # ... but is not final yet
        await _blocks(devnet, 2)
        assert await _balance(devnet, BOB, finality="final") == before + 10**24


async def test_lag_is_configurable(devnet_config: DevnetConfig) -> None:
    async with Devnet(_manual(devnet_config, final_lag_blocks=0)) as devnet:
        await _blocks(devnet, 3)
        final = (await _rpc(devnet, "block", {"finality": "final"}))["result"]["header"]["height"]
        assert final == devnet.head_height == devnet.final_height


async def test_window_must_cover_the_lag(devnet_config: DevnetConfig) -> None:
    with pytest.raises(DevnetError, match="history_blocks >= final_lag_blocks"):
        Devnet(dataclasses.replace(devnet_config, final_lag_blocks=3, history_blocks=2))
    with pytest.raises(DevnetError, match="final_lag_blocks must be >= 0"):
        Devnet(dataclasses.replace(devnet_config, final_lag_blocks=-1))


async def test_send_tx_wait_levels_follow_finality(devnet_config: DevnetConfig) -> None:
    async with Devnet(_manual(devnet_config)) as devnet:
        tx = await devnet.sign_and_submit(ALICE, BOB, [Transfer(deposit=1)])
        tx_hash = base58.b58encode(tx).decode()

        async def status() -> str:
            res = await _rpc(devnet, "tx", {"tx_hash": tx_hash, "sender_account_id": ALICE, "wait_until": "NONE"})
            return str(res["result"]["final_execution_status"])

        # a FINAL waiter is answered only once the last receipt's block is final
        waiter = asyncio.create_task(
            _rpc(devnet, "tx", {"tx_hash": tx_hash, "sender_account_id": ALICE, "wait_until": "FINAL"})
        )
        seen = []
        for _ in range(4):
            await devnet.produce_block()
            seen.append(await status())
            assert not waiter.done() or seen[-1] == "FINAL"
        # included at h, receipt runs at h+1, h final at h+2, h+1 final at h+3
        assert seen == ["INCLUDED", "EXECUTED_OPTIMISTIC", "EXECUTED", "FINAL"]
        final = (await waiter)["result"]
        assert final["final_execution_status"] == "FINAL" and final["status"] == {"SuccessValue": ""}


async def test_queries_at_an_older_block_answer_from_its_state(devnet_config: DevnetConfig) -> None:
    async with Devnet(_manual(devnet_config, history_blocks=4)) as devnet:
        await devnet.sign_and_submit(
            ALICE, CONTRACT, [FunctionCall(method_name="set", args=b'"one"', gas=30 * TGAS, deposit=0)]
        )
        await _blocks(devnet, 2)
        first = devnet.head_height
        await devnet.sign_and_submit(
            ALICE, CONTRACT, [FunctionCall(method_name="set", args=b'"two"', gas=30 * TGAS, deposit=0)]
        )
        await _blocks(devnet, 2)
        view = {"request_type": "call_function", "account_id": CONTRACT, "method_name": "get", "args_base64": ""}
        old = (await _rpc(devnet, "query", {**view, "block_id": first}))["result"]
        new = (await _rpc(devnet, "query", {**view, "finality": "optimistic"}))["result"]
        assert (bytes(old["result"]), bytes(new["result"])) == (b'"one"', b'"two"')
        assert old["block_height"] == first and new["block_height"] == devnet.head_height
        state = (
            await _rpc(
                devnet,
                "query",
                {"request_type": "view_state", "account_id": CONTRACT, "prefix_base64": "", "block_id": first},
            )
        )["result"]
        assert [base64.b64decode(v["value"]) for v in state["values"]] == [b'"one"']
        # alice paid for the second call after `first`
        genesis = devnet.genesis_height
        assert await _balance(devnet, ALICE, block_id=first) > await _balance(devnet, ALICE, finality="optimistic")
        await _blocks(devnet, 4)  # `first` falls out of the 4-block window
        status = (await _rpc(devnet, "status", None))["result"]["sync_info"]
        assert status["earliest_block_height"] == devnet.head_height - 4  # what queries can still reach
        gone = (await _rpc(devnet, "query", {**view, "block_id": first}))["error"]
        assert gone["cause"]["name"] == "GARBAGE_COLLECTED_BLOCK"
        assert gone["cause"]["info"]["block_height"] == first
        assert "garbage collected" in gone["data"]
        assert (await _rpc(devnet, "block", [genesis]))["result"]["header"]["height"] == genesis  # headers stay


async def _status_and_height(s: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with s.get(url) as r:
        doc = await r.json()
        return r.status, doc["block"]["header"]["height"] if r.status == 200 else doc["type"]


async def test_block_api_serves_final_blocks_only(devnet_config: DevnetConfig) -> None:
    """A block is served once final. As neardata does, a request for a height up to 10 above the final
    one is held until that block is final (a follower at the tip needs one request per block); a
    higher one is a 404 at once; a devnet that stops answers its held requests."""
    async with Devnet(_manual(devnet_config)) as devnet, aiohttp.ClientSession() as s:
        await _blocks(devnet, 4)
        api = devnet.block_api_url
        head = devnet.head_height
        assert await _status_and_height(s, f"{api}/block/{devnet.final_height + 11}") == (404, "BLOCK_DOES_NOT_EXIST")
        held = asyncio.create_task(_status_and_height(s, f"{api}/block/{head}"))
        await _until_held(devnet, 1)
        await _blocks(devnet, 1)  # head is not final yet: another request is answered, the held one not
        assert await _status_and_height(s, f"{api}/block/{devnet.final_height}") == (200, head - 1)
        assert not held.done() and devnet.held == 1
        await _blocks(devnet, 1)
        assert await asyncio.wait_for(held, 5) == (200, head)
        assert devnet.held == 0
        async with s.get(f"{api}/last_block/final", allow_redirects=False) as r:
            assert r.headers["Location"] == f"/v0/block/{devnet.head_height - 2}"
        async with s.get(f"{api}/last_block/final/headers") as r:
            doc = await r.json()
            assert doc["header"]["height"] == devnet.head_height - 2 and "shards" not in doc
        async with s.get(f"{api}/last_block/optimistic") as r:
            assert (await r.json())["block"]["header"]["height"] == devnet.head_height


async def _until_held(devnet: Devnet, n: int) -> None:
    for _ in range(500):  # poll: the request reaches the server
        if devnet.held == n:
            return
        await asyncio.sleep(0.01)  # poll
    raise AssertionError(f"{devnet.held} requests held, not {n}")


async def test_a_stopping_devnet_answers_its_held_requests_with_an_error_to_retry(devnet_config: DevnetConfig) -> None:
    """Not a 404 ("does not hold": a follower would stop holding for good) and not a dropped connection."""
    async with aiohttp.ClientSession() as s:
        async with Devnet(_manual(devnet_config)) as devnet:
            await _blocks(devnet, 3)
            held = asyncio.create_task(s.get(f"{devnet.block_api_url}/block/{devnet.final_height + 1}"))
            await _until_held(devnet, 1)
        async with await held as r:
            assert r.status == 503
