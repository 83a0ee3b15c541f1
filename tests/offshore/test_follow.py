"""Waiting on requests by following final blocks (offshore/follow.py) on the devnet node with the offshore
contract: settlement is seen from the contract's events in the block API, each request's view is read
once before and once after (never polled), a request settled before the wait costs one read, and
`OffshoreClient.wait_many` returns the same records as `get_request`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from py_near.transactions import create_function_call_action

from contract.testing import SOURCE, used
from devnet import TGAS
from offshore.follow import wait_settled
from offshore.testing import contract_on_devnet
from streams.settle.batching import batch_args, item_args

pytestmark = pytest.mark.asyncio(loop_scope="session")
OFFSHORE = "offshore.test.near"


async def test_wait_follows_blocks_and_reads_each_request_twice(tmp_path: Path) -> None:
    async with contract_on_devnet(tmp_path) as (d, client, operator):
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

        paths: list[str] = []

        async def on_request(_s: object, _c: object, params: aiohttp.TraceRequestStartParams) -> None:
            paths.append(params.url.path)

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request)
        async with aiohttp.ClientSession(trace_configs=[trace]) as http:
            waiting = asyncio.create_task(
                wait_settled(
                    ids, view=view, block_api_url=d.block_api_url, contract_id=OFFSHORE, timeout_s=60, http=http
                )
            )
            await first_reads.wait()
            await resolve(later)
            records = await waiting
        assert [records[r]["status"] for r in ids] == ["completed"] * 4
        assert sorted(reads) == sorted(ids + later)  # once each, twice for those still pending
        # One request per block, each height once and in order, none for the final height: at the tip
        # the devnet holds the request for the next height until that block is final (as neardata).
        heights = [int(path.rsplit("/", 1)[1]) for path in paths if path.startswith("/v0/block/")]
        assert len(heights) == len(paths) >= 2 and heights == list(range(heights[0], heights[0] + len(heights)))
        assert records == await client.wait_many(ids, timeout_s=10)
