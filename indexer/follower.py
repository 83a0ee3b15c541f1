"""Follows final blocks of a neardata-style API and publishes our contract's events to Kafka.

Never skips a block: a height that is not produced yet (404) is retried, a height the API reports as
skipped (`null`) is the only one passed over. Blocks are fetched in windows concurrently but published
in order; the checkpoint moves only after Kafka acknowledged every event up to that height, so a crash
re-reads at most one window and the re-read events are duplicates with the same ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from indexer import metrics
from indexer.core import events_in_block
from indexer.errors import BlockApiError, CheckpointError, PublishError
from schemas import Event, encode
from streams.topics import topic_for

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, kw_only=True)
class IndexerConfig:
    block_api_url: str  # e.g. http://127.0.0.1:3030/v0
    contract_id: str
    checkpoint_path: Path
    api_key: str | None = None  # sent as a Bearer token (mainnet/testnet APIs)
    start_height: int | None = None  # used when there is no checkpoint; None = the API's first block
    stop_height: int | None = None  # backfill up to this height and return; None = follow forever
    window: int = 64  # blocks fetched concurrently
    poll_interval_s: float = 0.1  # between checks for a new final block when caught up
    max_retry_delay_s: float = 5.0


class Publisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Returns only when every event is durably acknowledged; raises otherwise."""
        ...


class KafkaPublisher:
    def __init__(self, bootstrap: str) -> None:
        from streams.kafka import make_producer

        self._producer = make_producer(bootstrap)

    def publish(self, events: Sequence[Event]) -> None:
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for event in events:
            self._producer.produce(
                topic_for(type(event).__name__).name,
                key=event.request_id.encode(),
                value=encode(event),
                on_delivery=on_delivery,
            )
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

    def save(self, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(json.dumps({"height": height}))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)


class BlockApi:
    def __init__(self, http: httpx.AsyncClient, config: IndexerConfig) -> None:
        self._http = http
        self._base = config.block_api_url.rstrip("/")
        self._max_delay = config.max_retry_delay_s

    async def final_height(self) -> int:
        block = await self._get_json("/last_block/final", allow_missing=False)
        return int(block["block"]["header"]["height"])

    async def first_height(self) -> int:
        block = await self._get_json("/first_block", allow_missing=False)
        return int(block["block"]["header"]["height"])

    async def block(self, height: int) -> dict[str, Any] | None:
        """The block, or None if the API reports the height as skipped. Waits while it is not produced."""
        result: dict[str, Any] | None = await self._get_json(f"/block/{height}", allow_missing=True)
        return result

    async def _get_json(self, path: str, *, allow_missing: bool) -> Any:
        delay = 0.05
        while True:  # poll: retry until the API answers; a block is never skipped on error
            try:
                resp = await self._http.get(self._base + path)
                if resp.status_code == 200:
                    return resp.json()
                kind = "not_found" if resp.status_code == 404 else f"http_{resp.status_code}"
                if resp.status_code in (401, 403):
                    raise BlockApiError(f"block API refused {path}: HTTP {resp.status_code} (check the API key)")
            except (httpx.TransportError, ValueError) as exc:
                kind = type(exc).__name__
            metrics.API_ERRORS.labels(kind).inc()
            await asyncio.sleep(delay)  # poll
            delay = min(delay * 2, self._max_delay)


async def run_indexer(
    config: IndexerConfig,
    publisher: Publisher,
    *,
    stop: asyncio.Event | None = None,
    progress: ProgressFn | None = None,
) -> int | None:
    """Publishes blocks until `stop` is set or `stop_height` is reached; returns the last published height."""
    stop = stop or asyncio.Event()
    checkpoint = Checkpoint(config.checkpoint_path)
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    async with httpx.AsyncClient(headers=headers, timeout=10.0, follow_redirects=True) as http:
        api = BlockApi(http, config)
        last = checkpoint.load()
        next_height = last + 1 if last is not None else config.start_height or await api.first_height()
        while not stop.is_set():
            final = await api.final_height()
            metrics.FINAL_HEIGHT.set(final)
            target = final if config.stop_height is None else min(final, config.stop_height)
            if next_height > target:
                if config.stop_height is not None and next_height > config.stop_height:
                    return last
                await _wait(stop, config.poll_interval_s)
                continue
            end = min(target, next_height + config.window - 1)
            heights = range(next_height, end + 1)
            blocks = await asyncio.gather(*(api.block(h) for h in heights))
            events: list[Event] = []
            for block in blocks:
                if block is None:
                    metrics.BLOCKS.labels("skipped").inc()
                    continue
                events.extend(events_in_block(block, config.contract_id))
                metrics.BLOCKS.labels("published").inc()
            await asyncio.to_thread(publisher.publish, events)
            checkpoint.save(end)
            for event in events:
                metrics.EVENTS.labels(type(event).__name__).inc()
            last, next_height = end, end + 1
            metrics.HEIGHT.set(end)
            metrics.LAG.set(max(final - end, 0))
            if progress is not None:
                progress(end, target)
    return last


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
