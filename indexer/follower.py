"""Follows final blocks of a neardata-style API and publishes our contract's events to Kafka.

Never passes over a real block: a height not produced yet (404) or an API error is retried, and a
height answered `null` is passed over only once the next real block's header names the last block
read as its parent (neardata also answers `null` for heights a host does not hold). When the chain
contradicts the API the follower stalls, re-reading, with an error and `offshore_indexer_stalled`.
Up to `window` blocks are fetched concurrently (a sliding window, so one slow block does not stall the
others) but processed in height order; events are published in batches of `window` blocks while the
next blocks are being fetched. The checkpoint (a real block's height and hash) moves only after Kafka
acknowledged every event up to that height, so a crash re-reads at most a couple of batches and the
re-read events are duplicates with the same ids. At the tip the follower asks for the next height
and the API holds the request until that block is final (neardata does), so a block is read as soon
as it is final, one request per block; an API that answers 404 there is probed for its final height
once per block interval (measured from block timestamps) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from common.retry import Backoff
from indexer import metrics
from indexer.api import BlockApi
from indexer.chain import Anchor, BlockTime, Header, link_problem
from indexer.core import events_in_block, may_hold_events
from indexer.errors import BlockApiError, CheckpointError, PublishError
from schemas import Event, encode
from streams.topics import topic_for

ProgressFn = Callable[[int, int], None]
T = TypeVar("T")
_Fetched = tuple[Header | None, bytes]  # a block's header (None for `null`) and its raw JSON
log = logging.getLogger("offshore.indexer")
_SKIPPED = metrics.BLOCKS.labels("skipped")
_PUBLISHED = metrics.BLOCKS.labels("published")
_FINAL_REFRESH_S = 1.0  # how stale the final height (and so the lag metric) may get during a backfill
_DEFAULT_BLOCK_TIME_S = 1.0  # until two blocks were read (NEAR's nominal block time)
_POLL_BOUNDS_S = (0.05, 5.0)  # the measured block time is clamped to this
__all__ = ["BlockApi", "Checkpoint", "IndexerConfig", "KafkaPublisher", "Publisher", "run_indexer"]


@dataclass(frozen=True, kw_only=True)
class IndexerConfig:
    block_api_url: str  # e.g. http://127.0.0.1:3030/v0
    contract_id: str
    checkpoint_path: Path
    api_key: str | None = field(default=None, repr=False)  # sent as `?apiKey=` on every request and hop
    start_height: int | None = None  # used when there is no checkpoint; None = the API's first block
    stop_height: int | None = None  # backfill up to this height and return; None = follow forever
    window: int = 128  # blocks fetched concurrently, and blocks per published batch (bench: 128 > 64 > 256)
    poll_interval_s: float | None = None  # between final-height probes at the tip; None = the block time
    max_retry_delay_s: float = 5.0
    request_timeout_s: float = 10.0


class Publisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Returns only when every event is durably acknowledged; raises otherwise."""
        ...


class KafkaPublisher:
    def __init__(self, bootstrap: str) -> None:
        from streams.kafka import make_producer

        self._producer = make_producer(bootstrap)

    def publish(self, events: Sequence[Event]) -> None:
        from confluent_kafka import KafkaException

        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        try:
            for event in events:
                self._producer.produce(
                    topic_for(type(event).__name__).name,
                    key=event.request_id.encode(),
                    value=encode(event),
                    on_delivery=on_delivery,
                )
        except (BufferError, KafkaException) as exc:
            raise PublishError(f"Kafka refused an event: {exc}") from exc
        remaining = self._producer.flush(30)
        if remaining or errors:
            raise PublishError(f"Kafka did not acknowledge {remaining or len(errors)} events: {errors[:1]}")


class Checkpoint:
    """The last fully published height and its block hash, in a small file replaced atomically.
    The hash lets a resumed run check that the next block it reads names it as parent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        anchor = self.anchor()
        return None if anchor is None else anchor.height

    def anchor(self) -> Anchor | None:
        try:
            doc = json.loads(self.path.read_text())
            block_hash = doc.get("hash")
            return Anchor(int(doc["height"]), None if block_hash is None else str(block_hash))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"corrupt checkpoint {self.path}: {exc}") from None
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {exc}") from exc

    def save(self, height: int, block_hash: str | None = None) -> None:
        doc: dict[str, Any] = {"height": height} if block_hash is None else {"height": height, "hash": block_hash}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w") as f:
                f.write(json.dumps(doc))
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {exc}") from exc


async def run_indexer(
    config: IndexerConfig,
    publisher: Publisher,
    *,
    stop: asyncio.Event | None = None,
    progress: ProgressFn | None = None,
) -> int | None:
    """Publishes blocks until `stop` is set or `stop_height` is reached; returns the last published height."""
    stop = stop or asyncio.Event()
    connector = aiohttp.TCPConnector(limit=config.window + 2)  # the window plus the final-height probe
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        follower = _Follower(config, BlockApi(http, config), publisher, progress)
        return await follower.run(stop)


class _ChainBreak(Exception):
    """A block whose parent is not the last block read: the API's `null` or block was wrong."""

    def __init__(self, problem: str, heights: list[int]) -> None:
        super().__init__(problem)
        self.problem = problem
        self.heights = heights  # to re-read: the heights answered null since the anchor, and the block


@dataclass
class _Pending:
    """What was read since the last flush: events up to the last real block, and the heights after it
    answered null (not yet confirmed as skipped by a later block)."""

    events: list[Event]
    end: Anchor | None  # the last real block read: the checkpoint after this batch
    gap: list[int] = field(default_factory=list)  # heights answered null after `end`, unconfirmed
    blocks: int = 0  # real blocks read since the last flush
    skipped: int = 0  # heights confirmed skipped since the last flush

    def copy(self) -> _Pending:
        return _Pending(list(self.events), self.end, list(self.gap), self.blocks, self.skipped)


class _Follower:
    """One run: fetches ahead in a sliding window, extracts in order, publishes batches in order."""

    def __init__(self, config: IndexerConfig, api: BlockApi, publisher: Publisher, progress: ProgressFn | None) -> None:
        self.config = config
        self.api = api
        self.publisher = publisher
        self.progress = progress
        self.checkpoint = Checkpoint(config.checkpoint_path)
        self.last: int | None = None  # last height whose events Kafka acknowledged (= the checkpoint)
        self.anchor: Anchor | None = None  # the last real block read (published or in the batch)
        self.final = 0
        self.final_at = 0.0
        self.final_probe: asyncio.Task[int] | None = None
        self.pending = _Pending([], None)
        self.block_time = BlockTime()
        self.holds = True  # until the API answers 404 for the height just above the final one
        self.publishing: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> int | None:
        stopped = asyncio.create_task(stop.wait())
        in_flight: deque[tuple[int, asyncio.Future[_Fetched]]] = deque()
        try:
            self.anchor = self.checkpoint.anchor()
            self.last = None if self.anchor is None else self.anchor.height
            start = await _unless(stopped, self._start_height())
            final = await _unless(stopped, self.api.final_height())
            if isinstance(start, _Stopped) or isinstance(final, _Stopped):
                return self.last
            self._set_final(final)
            next_fetch = start
            while not stop.is_set():
                limit = self._limit()
                while len(in_flight) < self.config.window and next_fetch <= limit:
                    in_flight.append((next_fetch, asyncio.create_task(self.api.fetch(next_fetch))))
                    next_fetch += 1
                if not in_flight:  # caught up with the known final height
                    await self._flush()
                    if self.config.stop_height is not None and next_fetch > self.config.stop_height:
                        break
                    tip = await self._await_next(next_fetch, stopped)
                    if isinstance(tip, _Stopped):
                        break
                    if tip is not None:
                        in_flight.append((next_fetch, _answered(tip)))
                        next_fetch += 1
                    continue
                height, task = in_flight[0]
                if not task.done():
                    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
                    if not task.done():
                        break  # stopped
                in_flight.popleft()
                try:
                    self._add(height, *task.result())
                except _ChainBreak as brk:
                    if not await self._repair(brk, stopped):
                        break
                if self.pending.blocks + len(self.pending.gap) >= self.config.window:
                    await self._flush()
                self._maybe_refresh_final()
            await self._flush()  # blocks already read are published even when stopping
            if self.publishing is not None:
                await self.publishing
            return self.last
        finally:
            stopped.cancel()
            for _, task in in_flight:
                task.cancel()
            if self.final_probe is not None:
                self.final_probe.cancel()
            if self.publishing is not None and not self.publishing.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self.publishing  # never leave a publish half-tracked

    async def _start_height(self) -> int:
        if self.last is not None:
            return self.last + 1
        first = await self.api.first_height()
        # Heights below the API's first block do not exist: asking for them would wait forever.
        return first if self.config.start_height is None else max(self.config.start_height, first)

    def _limit(self) -> int:
        """Never ask beyond the known final height: neardata holds such a request open, or 404s it."""
        if self.config.stop_height is None:
            return self.final
        return min(self.final, self.config.stop_height)

    def _set_final(self, final: int, *, probed: bool = True) -> None:
        """A final height learnt from a probe, or (`probed=False`) from a held block: that one says
        only that its own height is final, so it leaves the probe clock alone and the background
        refresh still finds a final height far ahead (a follower that fell behind at the tip)."""
        self.final = max(self.final, final)
        if probed:
            self.final_at = time.monotonic()
        metrics.FINAL_HEIGHT.set(self.final)
        if self.last is not None:
            metrics.LAG.set(max(self.final - self.last, 0))

    def _maybe_refresh_final(self) -> None:
        """During a backfill the final height moves on; probe it in the background at most once per
        `_FINAL_REFRESH_S` while blocks are being read (also at the tip, where held blocks alone would
        hide a backlog: the window and the lag metric need the real final height)."""
        if self.final_probe is not None and self.final_probe.done():
            if not self.final_probe.cancelled():
                self._set_final(self.final_probe.result())
            self.final_probe = None
        if self.final_probe is None and time.monotonic() - self.final_at > _FINAL_REFRESH_S:
            self.final_at = time.monotonic()
            self.final_probe = asyncio.create_task(self.api.final_height())

    def poll_interval_s(self) -> float:
        """Time between final-height probes at the tip: one per block interval, so an idle follower
        costs one small request per block (fastnear's free limit is 180 requests per minute)."""
        if self.config.poll_interval_s is not None:
            return self.config.poll_interval_s
        low, high = _POLL_BOUNDS_S
        return min(max(self.block_time.seconds() or _DEFAULT_BLOCK_TIME_S, low), high)

    async def _await_next(self, height: int, stopped: asyncio.Task[Any]) -> _Fetched | _Stopped | None:
        """At the tip: the block at `height` as soon as it is final, from a request the API holds open
        (no probe phase to wait out: on average half a block interval sooner than probing). None when
        the final height was probed instead (the API answered 404, so from now on it is always probed,
        or the held request failed, so this time it is); the caller then fetches up to it."""
        if self.holds:
            got = await _unless(stopped, self.api.next_block(height))
            if isinstance(got, _Stopped):
                return got
            if not isinstance(got, str):
                self._set_final(height, probed=False)
                return got
            if got == "not_held" and height == self.final + 1:  # a 404 further up is only "too far"
                self.holds = False
                log.info("block API answers 404 above its final height: probing it every block interval")
        if not await self._await_new_final(stopped):
            return _Stopped()
        return None

    async def _await_new_final(self, stopped: asyncio.Task[Any]) -> bool:
        """Probes, one block interval after the last probe, until the final height moves; False when stopped."""
        while True:  # poll: a new final block appears every block interval
            wait = self.final_at + self.poll_interval_s() - time.monotonic()
            if wait > 0 and isinstance(await _unless(stopped, asyncio.sleep(wait)), _Stopped):  # poll
                return False
            known = self.final
            final = await _unless(stopped, self.api.final_height())
            if isinstance(final, _Stopped):
                return False
            self._set_final(final)
            if final > known:
                return True

    def _add(self, height: int, header: Header | None, raw: bytes) -> None:
        """Takes the next height in order; raises _ChainBreak when its block does not follow the last."""
        pending = self.pending
        gap = pending.gap
        if header is None:
            gap.append(height)
            return
        problem = link_problem(self.anchor, gap, header)
        if problem is not None:
            raise _ChainBreak(problem, [*gap, height])
        if may_hold_events(raw, self.config.contract_id):
            try:
                block = json.loads(raw)
            except ValueError as exc:
                raise BlockApiError(f"block {height} mentions our contract but is not valid JSON: {exc}") from None
            pending.events.extend(events_in_block(block, self.config.contract_id))
        pending.skipped += len(gap)
        pending.gap = []
        pending.blocks += 1
        self.anchor = pending.end = Anchor(height, header.hash)
        self.block_time.observe(height, header.timestamp_ns)

    async def _repair(self, brk: _ChainBreak, stopped: asyncio.Task[Any]) -> bool:
        """Stalls on a contradiction: re-reads the heights answered null and the block naming one of
        them, with back-off, until they link up (or forever, visibly). False when stopped."""
        metrics.CHAIN_BREAKS.inc()
        metrics.STALLED.set(1)
        saved, anchor = self.pending.copy(), self.anchor
        backoff = Backoff(first_s=0.5, max_s=max(self.config.max_retry_delay_s, 0.5))  # forever, visibly
        problem = brk.problem
        for attempt in backoff:  # until the API's answers agree with the chain
            log.error("block API contradicts the chain, not passing over: %s; re-reading %s", problem, brk.heights)
            if isinstance(await _unless(stopped, backoff.wait(attempt)), _Stopped):
                return False
            self.pending, self.anchor = saved.copy(), anchor
            self.pending.gap = []  # = brk.heights[:-1], about to be re-read
            try:
                for height in brk.heights:
                    got = await _unless(stopped, self.api.fetch(height))
                    if isinstance(got, _Stopped):
                        self.pending, self.anchor = saved, anchor
                        return False
                    self._add(height, *got)
            except _ChainBreak as again:
                problem = again.problem
                continue
            metrics.STALLED.set(0)
            log.warning("block API agrees with the chain again at height %d", brk.heights[-1])
            return True
        raise AssertionError("unreachable: the back-off has no attempt limit")

    async def _flush(self) -> None:
        """Hands the batch (up to the last real block) to Kafka in the background; waits for the
        previous batch first (order). Heights answered null after it wait for their confirmation."""
        pending = self.pending
        if pending.end is None:
            return
        self.pending = _Pending([], None, gap=pending.gap)
        if self.publishing is not None:
            await self.publishing
        self.publishing = asyncio.create_task(self._publish(pending))

    async def _publish(self, batch: _Pending) -> None:
        assert batch.end is not None
        end = batch.end
        await asyncio.to_thread(self._publish_and_save, batch.events, end)
        self.last = end.height
        for event in batch.events:
            metrics.EVENTS.labels(type(event).__name__).inc()
        _PUBLISHED.inc(batch.blocks)
        _SKIPPED.inc(batch.skipped)
        metrics.HEIGHT.set(end.height)
        metrics.LAG.set(max(self.final - end.height, 0))
        if self.progress is not None:
            target = self.config.stop_height if self.config.stop_height is not None else self.final
            self.progress(end.height, target)

    def _publish_and_save(self, events: list[Event], end: Anchor) -> None:
        self.publisher.publish(events)
        self.checkpoint.save(end.height, end.hash)


class _Stopped:
    """What `_unless` returns when the run was stopped first."""


def _answered(result: _Fetched) -> asyncio.Future[_Fetched]:
    """A fetch that is already answered, to queue with the fetches in flight."""
    done: asyncio.Future[_Fetched] = asyncio.get_running_loop().create_future()
    done.set_result(result)
    return done


async def _unless(stopped: asyncio.Task[Any], aw: Awaitable[T]) -> T | _Stopped:
    """`await aw`, unless `stopped` completes first: then aw is cancelled (a retry loop must not
    keep a stopping indexer alive while the API is down)."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    return _Stopped()
