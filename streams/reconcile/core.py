"""The reconciler: the chain's list of pending requests is the ledger of unfinished work.

Faust can lose an event on a rebalance (docs/toolchain.md), and any process may die between stages. A
request still pending on chain `after_blocks` after it was made is re-published to the requests
topic; every stage is idempotent (compile cache, execute dedup table, settle's chain check), so a
re-drive of a request that was merely slow costs nothing but a few cache hits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from schemas import ExecutionRequested, encode
from schemas.request_view import RequestView
from streams import metrics
from streams.deadline import DeadlinePolicy


class PendingSource(Protocol):
    async def final_height(self) -> int: ...

    async def list_pending(self) -> list[RequestView]: ...


class Sink(Protocol):
    async def send(self, *, key: bytes, value: bytes) -> Any: ...


def request_from_view(view: RequestView, *, height: int, producer: str) -> ExecutionRequested:
    """Rebuilds the request event from the contract's stored request (block hash and receipt unknown)."""
    return view.to_requested(
        event_id=f"redrive:{view.request_id}:{height}", occurred_at=datetime.now(UTC), producer=producer
    )


def due_for_redrive(
    views: list[RequestView],
    *,
    height: int,
    after_blocks: int,
    policy: DeadlinePolicy,
    last_redrive: dict[str, int],
    limit: int | None = None,
) -> list[RequestView]:
    """Pending requests old enough to be stuck, not re-driven recently, and still able to settle:
    oldest first, at most `limit` (under a backlog, re-driving everything would double the load)."""
    due = []
    for view in views:
        if not view.awaiting_resolve() or view.created_height is None:
            continue  # resolved, its callback settles it next block
        rid, created = view.request_id, view.created_height
        if height - created < after_blocks or height - last_redrive.get(rid, -(10**18)) < after_blocks:
            continue
        if height + policy.margin_blocks >= created + policy.timeout_blocks:
            continue  # too late to settle: the chain times it out and refunds in full
        due.append(view)
    due.sort(key=lambda v: v.created_height or 0)
    return due if limit is None else due[:limit]


class Reconciler:
    def __init__(
        self,
        *,
        chain: PendingSource,
        requests_topic: Sink,
        after_blocks: int,
        policy: DeadlinePolicy,
        producer: str,
        max_per_run: int = 50,
    ) -> None:
        self._chain = chain
        self._topic = requests_topic
        self._after = after_blocks
        self._policy = policy
        self._producer = producer
        self._max_per_run = max_per_run
        self._last: dict[str, int] = {}

    async def run_once(self) -> list[str]:
        """Re-drives what is stuck; returns the request ids it re-published."""
        height = await self._chain.final_height()
        views = await self._chain.list_pending()
        pending = {v.request_id for v in views}
        self._last = {rid: h for rid, h in self._last.items() if rid in pending}
        redriven = []
        for view in due_for_redrive(
            views,
            height=height,
            after_blocks=self._after,
            policy=self._policy,
            last_redrive=self._last,
            limit=self._max_per_run,
        ):
            event = request_from_view(view, height=height, producer=self._producer)
            await self._topic.send(key=event.request_id.encode(), value=encode(event))
            self._last[event.request_id] = height
            metrics.REDRIVES.inc()
            redriven.append(event.request_id)
        return redriven
