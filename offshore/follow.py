"""Waiting for many requests by following final blocks (issue 14): one block-API read per block, whatever
the number of requests waited on, instead of a `get_request` view per request every 100 ms. A view runs
the whole contract on the node (MicroPython start-up included); under load those polls were half of the
devnet's work.

The contract's own events say when a request settles: `execution_completed` (completed, failed, timed
out) and `execution_cancelled`, parsed by the indexer's `events_in_block`. Each request is read once
before (where to start following, and whether it already settled) and once after (its final record,
the same dict as `get_request`).
"""

from __future__ import annotations

import asyncio
import re
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
            final = await _final_height(session, base)
            while height <= final and pending:
                block = await _get(session, f"{base}/block/{height}")
                if block is not None:
                    pending -= settled_in(block, contract_id)
                height += 1
            if not pending:
                break
            if time.monotonic() > deadline:
                raise OffshoreError(f"{len(pending)} request(s) still pending after {timeout_s:.0f}s")
            await asyncio.sleep(0.05)  # poll: the next final block (one cheap read, not a view per request)
    finally:
        if own:
            await session.close()
    done = [rid for rid in waiting if records[rid].get("status") == "pending"]
    finals = await asyncio.gather(*(view(rid) for rid in done))
    for rid, rec in zip(done, finals, strict=True):
        assert rec is not None
        records[rid] = rec
    return {rid: records[rid] for rid in waiting}


async def _final_height(http: aiohttp.ClientSession, base: str) -> int:
    """The final height from the redirect's `Location` (`/block/{h}/headers`): polled every 50 ms, so
    no block is downloaded for it; a server that answers the header itself is read too."""
    async with http.get(f"{base}/last_block/final/headers", allow_redirects=False) as resp:
        if resp.status in (301, 302, 303, 307, 308):
            found = re.search(r"/block/(\d+)", resp.headers.get("Location", ""))
            if found:
                return int(found.group(1))
        elif resp.status == 200:
            doc = await resp.json(content_type=None)
            if isinstance(doc, dict):
                header = (doc.get("block") or doc).get("header") or {}
                if "height" in header:
                    return int(header["height"])
    raise OffshoreError(f"the block API has no final block ({resp.status})")


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        if resp.status != 200:
            raise OffshoreError(f"block API {resp.status} for {url.rsplit('/', 2)[-2:]}")
        return await resp.json(content_type=None)
