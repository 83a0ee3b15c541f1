"""The reconciler: the chain's list of pending requests is the ledger of unfinished work.

Faust can lose an event on a rebalance (docs/toolchain.md), and any process may die between stages. A
request still pending on chain `after_blocks` after it was made is re-published to the requests
topic; every stage is idempotent (compile cache, execute result store, settle's chain check), so a
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

    async def list_pending_before(
        self, height: int, *, after: str | None = None, limit: int = 100
    ) -> list[RequestView]:
        """One page of pending requests created before `height`, ids above `after`, ascending."""
        ...


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
    redrives: dict[str, int] | None = None,
) -> list[RequestView]:
    """Pending requests old enough to be stuck, not re-driven recently, and still able to settle:
    oldest first, at most `limit` (under a backlog, re-driving everything would double the load).

    "Recently" doubles with each re-drive of the request (`redrives`: how many so far; after_blocks,
    then 2x, 4x, at most 8x): a request still pending after a re-drive is most likely queued behind
    a backlog, not lost, and each copy costs the stages and the chain a batch item. The chaos bench
    re-drove 1554 times for 1000 requests with a fixed interval."""
    due = []
    for view in views:
        if not view.awaiting_resolve() or view.created_height is None:
            continue  # resolved, its callback settles it next block
        rid, created = view.request_id, view.created_height
        wait = after_blocks * 2 ** min(max((redrives or {}).get(rid, 0) - 1, 0), 3)
        if height - created < after_blocks or height - last_redrive.get(rid, -(10**18)) < wait:
            continue
        if height + policy.margin_blocks >= created + policy.timeout_blocks:
            continue  # too late to settle: the chain times it out and refunds in full
        due.append(view)
    due.sort(key=lambda v: v.created_height or 0)
    return due if limit is None else due[:limit]


class Reconciler:
    """Re-drives stuck requests at a cost proportional to them, not to the backlog (issue 14).

    It asks the contract only for requests created at least `after_blocks` ago (`list_pending_before`:
    the contract reads the page, stopping at the first younger request), one page per step, at most
    `max_pages` per run, resuming after the last id it saw on the next run and wrapping to the oldest
    at the end. A healthy pipeline settles requests long before `after_blocks`, so a run reads one
    short page; a burst of young pending requests costs nothing; stuck ones are paged through over a
    few runs. Before, every run listed every pending request (5 s ticks x the whole backlog).
    """

    def __init__(
        self,
        *,
        chain: PendingSource,
        requests_topic: Sink,
        after_blocks: int,
        policy: DeadlinePolicy,
        producer: str,
        max_per_run: int = 50,
        page: int = 100,
        max_pages: int = 2,
    ) -> None:
        self._chain = chain
        self._topic = requests_topic
        self._after = after_blocks
        self._policy = policy
        self._producer = producer
        self._max_per_run = max_per_run
        self._page = page
        self._max_pages = max_pages
        self._last: dict[str, int] = {}
        self._count: dict[str, int] = {}  # re-drives so far, per request (the back-off)
        self._cursor: str | None = None
        self.pages_read = 0  # views asked of the chain, for tests and the bench

    async def run_once(self) -> list[str]:
        """Re-drives what is stuck; returns the request ids it re-published."""
        height = await self._chain.final_height()
        # forgotten once past any yield window: such a request is final on chain
        self._last = {rid: h for rid, h in self._last.items() if height - h < self._policy.timeout_blocks}
        self._count = {rid: n for rid, n in self._count.items() if rid in self._last}
        cutoff = height - self._after + 1  # created at or before height - after_blocks
        redriven: list[str] = []
        for _ in range(self._max_pages):
            views = await self._chain.list_pending_before(cutoff, after=self._cursor, limit=self._page)
            self.pages_read += 1
            self._cursor = views[-1].request_id if len(views) == self._page else None
            for view in due_for_redrive(
                views,
                height=height,
                after_blocks=self._after,
                policy=self._policy,
                last_redrive=self._last,
                limit=self._max_per_run - len(redriven),
                redrives=self._count,
            ):
                event = request_from_view(view, height=height, producer=self._producer)
                await self._topic.send(key=event.request_id.encode(), value=encode(event))
                self._last[event.request_id] = height
                self._count[event.request_id] = self._count.get(event.request_id, 0) + 1
                metrics.REDRIVES.inc()
                redriven.append(event.request_id)
            if self._cursor is None or len(redriven) >= self._max_per_run:
                break
        return redriven
