"""Follows final blocks of a neardata-style API and publishes our contract's events to Kafka.

Never skips a block: a height that is not produced yet (404) or an API error is retried, a height the
API reports as skipped (`null`) is the only one passed over. Up to `window` blocks are fetched
concurrently (a sliding window, so one slow block does not stall the others) but processed in height
order; events are published in batches of `window` blocks while the next blocks are being fetched. The
checkpoint moves only after Kafka acknowledged every event up to that height, so a crash re-reads at
most a couple of batches and the re-read events are duplicates with the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from indexer import metrics
from indexer.core import events_in_block, may_hold_events
from indexer.errors import BlockApiError, CheckpointError, PublishError
from schemas import Event, encode
from streams.topics import topic_for

ProgressFn = Callable[[int, int], None]
T = TypeVar("T")
_SKIPPED = metrics.BLOCKS.labels("skipped")
_PUBLISHED = metrics.BLOCKS.labels("published")
_HEIGHT_KEY = re.compile(rb'"height":\s*(\d+)')
_FINAL_REFRESH_S = 1.0  # how stale the final height (and so the lag metric) may get during a backfill


@dataclass(frozen=True, kw_only=True)
class IndexerConfig:
    block_api_url: str  # e.g. http://127.0.0.1:3030/v0
    contract_id: str
    checkpoint_path: Path
    api_key: str | None = None  # sent as a Bearer token (mainnet/testnet APIs)
    start_height: int | None = None  # used when there is no checkpoint; None = the API's first block
    stop_height: int | None = None  # backfill up to this height and return; None = follow forever
    window: int = 128  # blocks fetched concurrently, and blocks per published batch (bench: 128 > 64 > 256)
    poll_interval_s: float = 0.05  # between checks for a new final block when caught up (latency vs API load)
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
    """The last fully published height, in a small file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        try:
            return int(json.loads(self.path.read_text())["height"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"corrupt checkpoint {self.path}: {exc}") from None
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoint {self.path}: {exc}") from exc

    def save(self, height: int) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w") as f:
                f.write(json.dumps({"height": height}))
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(self.path)
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoint {self.path}: {exc}") from exc


class BlockApi:
    """The neardata paths the indexer reads. Every call retries until the API answers."""

    def __init__(self, http: aiohttp.ClientSession, config: IndexerConfig) -> None:
        self._http = http
        self._base = config.block_api_url.rstrip("/")
        self._max_delay = config.max_retry_delay_s

    async def final_height(self) -> int:
        block = await self._get_json("/last_block/final")
        return int(block["block"]["header"]["height"])

    async def first_height(self) -> int:
        block = await self._get_json("/first_block")
        return int(block["block"]["header"]["height"])

    async def block(self, height: int) -> dict[str, Any] | None:
        """The block, or None if the API reports the height as skipped. Waits while it is not produced."""
        return _parse_block(await self.raw_block(height), height)

    async def raw_block(self, height: int) -> bytes:
        """The block's JSON as sent (`null` for a skipped height), so it is parsed only when needed.
        An answer that is not recognisably this block (a proxy's error page with status 200) is
        retried: unparsed, it would otherwise pass for a block without our events."""
        delay = 0.05
        while True:  # poll: a garbled answer is retried like an error
            raw = await self._get(f"/block/{height}")
            if _looks_like_block(raw, height):
                return raw
            metrics.API_ERRORS.labels("invalid_block").inc()
            await asyncio.sleep(delay)  # poll
            delay = min(delay * 2, self._max_delay)

    async def _get_json(self, path: str) -> Any:
        while True:  # poll: a garbled answer is retried like an error
            body = await self._get(path)
            try:
                return json.loads(body)
            except ValueError:
                metrics.API_ERRORS.labels("invalid_json").inc()
                await asyncio.sleep(0.05)  # poll

    async def _get(self, path: str) -> bytes:
        delay = 0.05
        while True:  # poll: retry until the API answers; a block is never skipped on error
            try:
                async with self._http.get(self._base + path) as resp:
                    if resp.status == 200:
                        return await resp.read()
                    if resp.status in (401, 403):
                        raise BlockApiError(f"block API refused {path}: HTTP {resp.status} (check the API key)")
                    kind = "not_found" if resp.status == 404 else f"http_{resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                kind = type(exc).__name__
            metrics.API_ERRORS.labels(kind).inc()
            await asyncio.sleep(delay)  # poll
            delay = min(delay * 2, self._max_delay)


def _looks_like_block(raw: bytes, height: int) -> bool:
    """`null`, or a JSON object naming this height: microseconds, where parsing takes milliseconds."""
    body = raw.strip()
    if body == b"null":
        return True
    if body[:1] != b"{" or body[-1:] != b"}":
        return False
    return any(int(m.group(1)) == height for m in _HEIGHT_KEY.finditer(body))  # the header's comes first


def _parse_block(raw: bytes, height: int) -> dict[str, Any] | None:
    """The parsed block (None for a skipped height); raises BlockApiError for a wrong or broken answer."""
    try:
        block: dict[str, Any] | None = json.loads(raw)
        if block is not None and int(block["block"]["header"]["height"]) != height:
            raise BlockApiError(f"block API answered height {block['block']['header']['height']} for {height}")
    except (ValueError, KeyError, TypeError) as exc:
        raise BlockApiError(f"block API answered height {height} with an unusable block: {exc}") from exc
    return block


async def run_indexer(
    config: IndexerConfig,
    publisher: Publisher,
    *,
    stop: asyncio.Event | None = None,
    progress: ProgressFn | None = None,
) -> int | None:
    """Publishes blocks until `stop` is set or `stop_height` is reached; returns the last published height."""
    stop = stop or asyncio.Event()
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    connector = aiohttp.TCPConnector(limit=config.window + 2)  # the window plus the final-height probe
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_s)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as http:
        follower = _Follower(config, BlockApi(http, config), publisher, progress)
        return await follower.run(stop)


class _Follower:
    """One run: fetches ahead in a sliding window, extracts in order, publishes batches in order."""

    def __init__(self, config: IndexerConfig, api: BlockApi, publisher: Publisher, progress: ProgressFn | None) -> None:
        self.config = config
        self.api = api
        self.publisher = publisher
        self.progress = progress
        self.checkpoint = Checkpoint(config.checkpoint_path)
        self.last: int | None = None  # last height whose events Kafka acknowledged (= the checkpoint)
        self.final = 0
        self.final_at = 0.0
        self.final_probe: asyncio.Task[int] | None = None
        self.batch: list[Event] = []
        self.batch_end: int | None = None
        self.batch_blocks = 0
        self.publishing: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> int | None:
        stopped = asyncio.create_task(stop.wait())
        in_flight: deque[tuple[int, asyncio.Task[bytes]]] = deque()
        try:
            self.last = self.checkpoint.load()
            start = await _unless(stopped, self._start_height())
            final = await _unless(stopped, self.api.final_height())
            if isinstance(start, _Stopped) or isinstance(final, _Stopped):
                return self.last
            self._set_final(final)
            next_fetch = start
            while not stop.is_set():
                limit = self._limit()
                while len(in_flight) < self.config.window and next_fetch <= limit:
                    in_flight.append((next_fetch, asyncio.create_task(self.api.raw_block(next_fetch))))
                    next_fetch += 1
                if not in_flight:  # caught up with the known final height
                    await self._flush()
                    if self.config.stop_height is not None and next_fetch > self.config.stop_height:
                        break
                    if not await self._await_new_final(stopped):
                        break
                    continue
                height, task = in_flight[0]
                if not task.done():
                    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
                    if not task.done():
                        break  # stopped
                in_flight.popleft()
                self._add(height, task.result())
                if self.batch_blocks >= self.config.window:
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
        if self.config.stop_height is None:
            return self.final
        return min(self.final, self.config.stop_height)

    def _set_final(self, final: int) -> None:
        self.final = max(self.final, final)
        self.final_at = time.monotonic()
        metrics.FINAL_HEIGHT.set(self.final)
        if self.last is not None:
            metrics.LAG.set(max(self.final - self.last, 0))

    def _maybe_refresh_final(self) -> None:
        """During a long backfill the final height moves on; probe it in the background now and then."""
        if self.final_probe is not None and self.final_probe.done():
            if not self.final_probe.cancelled():
                self._set_final(self.final_probe.result())
            self.final_probe = None
        if self.final_probe is None and time.monotonic() - self.final_at > _FINAL_REFRESH_S:
            self.final_at = time.monotonic()
            self.final_probe = asyncio.create_task(self.api.final_height())

    async def _await_new_final(self, stopped: asyncio.Task[Any]) -> bool:
        """Polls until the final height moves past what we know; False when stopped."""
        while True:  # poll: a new final block appears every block interval
            final = await _unless(stopped, self.api.final_height())
            if isinstance(final, _Stopped):
                return False
            known = self.final
            self._set_final(final)
            if final > known:
                return True
            if isinstance(await _unless(stopped, asyncio.sleep(self.config.poll_interval_s)), _Stopped):  # poll
                return False

    def _add(self, height: int, raw: bytes) -> None:
        if raw.strip() == b"null":
            _SKIPPED.inc()
        else:
            if may_hold_events(raw, self.config.contract_id):
                block = _parse_block(raw, height)
                if block is not None:
                    self.batch.extend(events_in_block(block, self.config.contract_id))
            _PUBLISHED.inc()
        self.batch_end = height
        self.batch_blocks += 1

    async def _flush(self) -> None:
        """Hands the batch to Kafka in the background; waits for the previous batch first (order)."""
        if self.batch_end is None:
            return
        events, end = self.batch, self.batch_end
        self.batch, self.batch_end, self.batch_blocks = [], None, 0
        if self.publishing is not None:
            await self.publishing
        self.publishing = asyncio.create_task(self._publish(events, end))

    async def _publish(self, events: list[Event], end: int) -> None:
        await asyncio.to_thread(self._publish_and_save, events, end)
        self.last = end
        for event in events:
            metrics.EVENTS.labels(type(event).__name__).inc()
        metrics.HEIGHT.set(end)
        metrics.LAG.set(max(self.final - end, 0))
        if self.progress is not None:
            target = self.config.stop_height if self.config.stop_height is not None else self.final
            self.progress(end, target)

    def _publish_and_save(self, events: list[Event], end: int) -> None:
        self.publisher.publish(events)
        self.checkpoint.save(end)


class _Stopped:
    """What `_unless` returns when the run was stopped first."""


async def _unless(stopped: asyncio.Task[Any], aw: Awaitable[T]) -> T | _Stopped:
    """`await aw`, unless `stopped` completes first: then aw is cancelled (a retry loop must not
    keep a stopping indexer alive while the API is down)."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    return _Stopped()
