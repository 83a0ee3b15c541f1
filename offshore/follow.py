"""Waiting for many requests by following final blocks (issue 14): one block-API read per block, whatever
the number of requests waited on, instead of a `get_request` view per request every 100 ms. At the tip
that read is held open by the API until the block is final (neardata does; so does the devnet). A view runs
the whole contract on the node (MicroPython start-up included); under load those polls were half of the
devnet's work.

The contract's own events say when a request settles: `execution_completed` (completed, failed, timed
out) and `execution_cancelled`, parsed by the indexer's `events_in_block`. Each request is read once
before (where to start following, and whether it already settled) and once after (its final record,
the same dict as `get_request`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from offshore.errors import OffshoreError

View = Callable[[str], Awaitable[dict[str, Any] | None]]


def settled_in(block: dict[str, Any], contract_id: str) -> set[str]:
    """Ids of the requests this block settled (completed, failed, timed out or cancelled)."""
    from indexer.core import events_in_block
    from schemas import ExecutionCancelled, ExecutionCompleted

    events = events_in_block(block, contract_id)
    return {e.request_id for e in events if isinstance(e, ExecutionCompleted | ExecutionCancelled)}


async def wait_settled(
    ids: Iterable[str],
    *,
    view: View,
    block_api_url: str,
    contract_id: str,
    timeout_s: float,
    http: aiohttp.ClientSession | None = None,
) -> dict[str, dict[str, Any]]:
    """Each request's final record, following final blocks from the oldest request's creation."""
    waiting = list(dict.fromkeys(ids))
    if not waiting:
        return {}
    deadline = time.monotonic() + timeout_s
    first = await asyncio.gather(*(view(rid) for rid in waiting))
    missing = [rid for rid, rec in zip(waiting, first, strict=True) if rec is None]
    if missing:
        raise OffshoreError(f"unknown request(s) {', '.join(missing[:5])}")
    records = {rid: rec for rid, rec in zip(waiting, first, strict=True) if rec is not None}
    pending = {rid for rid, rec in records.items() if rec.get("status") == "pending"}
    height = min((int(records[rid]["created_height"]) for rid in pending), default=0)
    base = block_api_url.rstrip("/")
    own = http is None
    session = http or aiohttp.ClientSession()
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise OffshoreError(f"{len(pending)} request(s) still pending after {timeout_s:.0f}s")
            status: int | str
            try:
                status, block = await _block(session, f"{base}/block/{height}", left)
            except TimeoutError:
                continue  # held past the deadline: reported above
            except aiohttp.ClientError as exc:
                status, block = type(exc).__name__, None
            if status != 200:  # 404: not final yet (an API that does not hold); else an error to retry
                problem = f"; the block API last answered {status}" if status != 404 else ""
                if time.monotonic() + 0.05 >= deadline:
                    raise OffshoreError(f"{len(pending)} request(s) still pending after {timeout_s:.0f}s{problem}")
                await asyncio.sleep(0.05 if status == 404 else 0.5)  # poll: the next final block, or a retry
                continue
            if block is not None:
                pending -= settled_in(block, contract_id)
            height += 1
    finally:
        if own:
            await session.close()
    done = [rid for rid in waiting if records[rid].get("status") == "pending"]
    finals = await asyncio.gather(*(view(rid) for rid in done))
    for rid, rec in zip(done, finals, strict=True):
        assert rec is not None
        records[rid] = rec
    return {rid: records[rid] for rid in waiting}


async def _block(http: aiohttp.ClientSession, url: str, timeout_s: float) -> tuple[int, Any]:
    """The HTTP status and, with 200, the block (None for a skipped height). A height just above the
    final one is held open by neardata (and the devnet) until it is final, so following costs one
    request per block and sees each block as soon as it is final. 404: not final yet; 5xx and 429
    (neardata's "not cached" just below its tip, a rate limit): retried by the caller."""
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
        return resp.status, await resp.json(content_type=None) if resp.status == 200 else None
