"""Settle's batching shell: outcomes queue here and leave as `resolve_executions` calls (issue 14).

- **Latency at low load**: an outcome leaves at once while at most half the operator keys carry a
  call (a call holds its key until its outcome, 2-3 blocks); only when more are busy do outcomes wait,
  at most `window_s` (default 20 ms, <= 50 ms), for others to share a call. So a request at low load
  keeps the single-resolve latency (docs/design.md §12) even while earlier calls still await their
  outcomes (waiting whenever any call was in flight cost every request a window at low load), and a
  burst pays one call per batch instead of one per request (gas: contract/README.md); once every key
  is busy, outcomes queue and the next free key takes them all in one call.
- **Limits**: a call carries at most `limits.max_items` outcomes, `limits.max_bytes` of arguments and
  what the measured gas model allows under the per-call limit (`batching.py`).
- **Keys**: `senders` calls run concurrently, one per operator access key (py-near signs with its
  keys in turn), so batches spread over the keys and never wait on one nonce.
- **Deadlines**: the queue is ordered by yield deadline, soonest first; an outcome whose yield can no
  longer be resolved in time (`expired`) is answered `EXPIRED` without being sent.
- **Failures**: the contract skips an item it can no longer resolve and reports it, so resending a
  batch never resolves twice. A call that fails as a whole (refused, out of gas, RPC) is retried item
  by item, so one bad item fails only itself; an item that fails alone gets the exception.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.settle.batching import GAS, BatchLimits, BatchResult, GasModel, batch_args, fits, item_args, parse_result

log = logging.getLogger("offshore.streams")
EXPIRED = "expired"  # settle's own skip reason: not sent, the yield would time out first


@dataclass(frozen=True)
class Resolved:
    """How one outcome ended: `skipped` is None when the contract resolved it, else (reason, message)."""

    request_id: str
    skipped: tuple[str, str] | None
    tx_hash: str
    batch_size: int
    sent_at: datetime | None = None  # when the call carrying it left (None: never sent)


@dataclass(order=True)
class _Entry:
    deadline: int
    seq: int
    request_id: str = field(compare=False)
    args: bytes = field(compare=False)
    done: asyncio.Future[Resolved] = field(compare=False)


# send(args, items, arg_bytes) -> (tx hash, the call's result); raises when the call fails as a whole
Send = Callable[[bytes, int], Awaitable[tuple[str, BatchResult]]]


class Batcher:
    def __init__(
        self,
        send: Send,
        *,
        senders: int,
        final_height: Callable[[], Awaitable[int]],
        margin_blocks: int,
        window_s: float = 0.02,
        limits: BatchLimits | None = None,
    ) -> None:
        self._send = send
        self._final_height = final_height
        self._margin = margin_blocks  # an entry with fewer blocks left than this is expired, not sent
        self._window = window_s
        self._limits = limits or BatchLimits()
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self._in_flight = 0
        self._senders = max(1, senders)
        self._workers = [asyncio.ensure_future(self._worker()) for _ in range(self._senders)]

    @property
    def backlog(self) -> int:
        return len(self._heap)

    async def resolve(self, request_id: str, response: dict[str, Any], *, deadline: int) -> Resolved:
        """Queues one outcome and returns once the call that carried it landed (or it expired)."""
        done: asyncio.Future[Resolved] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, _Entry(deadline, next(self._seq), request_id, item_args(request_id, response), done))
        self._ready.set()
        return await done

    async def close(self) -> None:
        for w in self._workers:
            w.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        for e in self._heap:
            if not e.done.done():
                e.done.cancel()

    async def _worker(self) -> None:
        while True:
            while not self._heap:
                self._ready.clear()
                await self._ready.wait()
            if should_wait(self._in_flight, self._senders, len(self._heap), self._limits.max_items):
                await asyncio.sleep(self._window)  # most keys are busy: let this batch fill for a window
            try:
                batch = await self._take()
            except Exception as exc:  # the height could not be read: the entries stay queued
                log.warning("settle batcher: deadline check failed, retrying: %s", exc)
                await asyncio.sleep(0.5)  # backoff: the chain's RPC is failing
                continue
            if not batch:
                continue
            self._in_flight += 1
            try:
                await self._deliver(batch)
            except Exception as exc:  # never lose the worker: every waiter gets the error
                for entry in batch:
                    if not entry.done.done():
                        entry.done.set_exception(exc)
            finally:
                self._in_flight -= 1

    async def _take(self) -> list[_Entry]:
        """The soonest-expiring entries that fit one call; expired ones are answered on the way. The
        height is read first: nothing awaits between looking at the queue and popping from it (other
        workers take from the same queue)."""
        height = await self._final_height()
        taken: list[_Entry] = []
        size = 12  # `{"items":[]}`
        while self._heap:
            entry = self._heap[0]
            if height + self._margin >= entry.deadline:
                heapq.heappop(self._heap)
                if not entry.done.done():
                    entry.done.set_result(Resolved(entry.request_id, (EXPIRED, "yield deadline too close"), "", 0))
                continue
            if taken and not fits(len(taken) + 1, size + len(entry.args) + 1, self._limits):
                break
            size += len(entry.args) + 1
            taken.append(heapq.heappop(self._heap))
        return taken

    async def _deliver(self, batch: list[_Entry]) -> None:
        sent_at = datetime.now(UTC)
        try:
            tx, result = await self._send(batch_args([e.args for e in batch]), len(batch))
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            for entry in batch:  # one bad item must not fail the others: each alone
                await self._deliver([entry])
            return
        for e in batch:
            if e.done.done():
                continue
            if e.request_id in result.resolved:
                e.done.set_result(Resolved(e.request_id, None, tx, len(batch), sent_at))
            else:
                why = result.skipped.get(e.request_id, ("missing", "not in the call's result"))
                e.done.set_result(Resolved(e.request_id, why, tx, len(batch), sent_at))


def should_wait(in_flight: int, senders: int, queued: int, max_items: int) -> bool:
    """Whether a free worker lets its batch fill for a window before sending (pure): only while more
    than half the keys carry a call and the batch is not full."""
    return in_flight * 2 > senders and queued < max_items


def py_near_send(account: Any, contract_id: str, gas: GasModel = GAS) -> Send:
    """`Send` through a started py-near Account (its access keys sign in turn): one
    `resolve_executions` transaction with the gas the model gives; raises on a failed call."""
    from py_near.transactions import create_function_call_action

    async def send(args: bytes, items: int) -> tuple[str, BatchResult]:
        action = create_function_call_action("resolve_executions", args, gas.attach(items, len(args)), 0)
        result = await account.sign_and_submit_tx(contract_id, [action])
        status = result.status
        if not isinstance(status, dict) or "SuccessValue" not in status:
            raise BatchFailed(f"resolve_executions failed on chain: {json.dumps(status, default=str)[:300]}")
        return str(result.transaction.hash), parse_result(json.loads(base64.b64decode(status["SuccessValue"])))

    return send


class BatchFailed(Exception):
    """A resolve_executions call failed as a whole (the batcher retries its items one by one)."""
