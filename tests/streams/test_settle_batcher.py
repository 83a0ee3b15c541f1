"""Settle's batcher (streams/settle/batcher.py) against the offshore contract on the devnet node: a lone
outcome leaves at once in a call of its own, a burst shares calls, an outcome the contract can no
longer resolve or refuses is reported for itself without failing its batch, and an expired one is
never sent. Every request ends resolved exactly once on chain."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from contract.testing import SOURCE, used
from offshore.audit import resolve_counts
from offshore.testing import contract_on_devnet
from streams.settle.batcher import EXPIRED, Batcher, py_near_send, should_wait

pytestmark = pytest.mark.asyncio(loop_scope="session")
OFFSHORE = "offshore.test.near"
OK = {"success": True, "output": "out", "resources_used": used(10, 1, 0)}


async def test_batches_on_the_devnet(tmp_path: Path) -> None:
    async with contract_on_devnet(tmp_path) as (d, client, operator):
        sent: list[int] = []
        send = py_near_send(operator, OFFSHORE)

        async def counting(args: bytes, items: int) -> Any:
            sent.append(items)
            return await send(args, items)

        async def height() -> int:
            return 0  # with a margin of 1: an outcome whose deadline is below 1 has expired

        batcher = Batcher(counting, senders=1, final_height=height, margin_blocks=1, window_s=0.02)
        try:
            ids = [(await client.request(repo=SOURCE["repo"], commit=SOURCE["commit"])).request_id for _ in range(32)]

            lone = await batcher.resolve(ids[0], OK, deadline=10)
            assert lone.skipped is None and lone.batch_size == 1 and sent == [1]

            burst = [batcher.resolve(r, OK, deadline=10 + i) for i, r in enumerate(ids[1:31])]
            again = batcher.resolve(ids[0], OK, deadline=5)  # a redelivered outcome
            bad = batcher.resolve(ids[31], {"success": "yes"}, deadline=5)
            late = batcher.resolve(ids[31], OK, deadline=-1)
            *landed, twice, refused, gone = await asyncio.gather(*burst, again, bad, late)
            assert all(r.skipped is None for r in landed)
            assert twice.skipped is not None and twice.skipped[0] in ("already_resolved", "not_pending")
            assert refused.skipped is not None and refused.skipped[0] == "invalid"
            assert gone.skipped == (EXPIRED, "yield deadline too close") and gone.tx_hash == ""
            assert sum(sent) == 1 + 32 and len(sent) < 10  # 32 outcomes shared a few calls
            assert len({r.tx_hash for r in landed}) == len(sent) - 1

            records = await client.wait_many(ids[:31], timeout_s=60)
            assert {r["status"] for r in records.values()} == {"completed"}
            assert (await client.get_request(ids[31]) or {}).get("resolved") is False
            counts = await asyncio.to_thread(resolve_counts, d.block_api_url, OFFSHORE)
            assert [counts[r] for r in ids] == [1] * 31 + [0]  # the chain's audit: each exactly once
        finally:
            await batcher.close()


async def test_an_outcome_waits_for_company_only_while_most_keys_are_busy() -> None:
    # 8 keys: a call or four awaiting outcomes (low load) do not hold the next outcome back
    assert [should_wait(busy, 8, 1, 100) for busy in range(9)] == [False] * 5 + [True] * 4
    assert not should_wait(8, 8, 100, 100)  # a full batch leaves at once
    assert should_wait(1, 1, 1, 100)  # one key, carrying a call: later outcomes share the next one
    assert not should_wait(0, 1, 1, 100)
