"""The projector process: Kafka batches -> one Postgres transaction each -> Kafka commit.

Order per batch: decode, write rows + rejects + offsets in one transaction, commit it, then commit the
Kafka offsets. A crash anywhere replays the batch, which the event-id key turns into a no-op.

The database, not Kafka, says where to resume: on assignment every partition is positioned at the
offset stored with the rows (or the beginning when there is none). So a dropped and re-migrated
database is rebuilt from the topics by the same consumer group, and Kafka's committed offsets serve
lag monitoring only. confluent-kafka, not Faust: Faust loses events on rebalance (docs/toolchain.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from projector import _postgres, metrics
from projector.core import EventRow, Position, next_offsets, to_row
from projector.errors import ProjectorError
from schemas import SchemaError, decode
from streams.kafka import make_consumer
from streams.topics import ALL_TOPICS

log = logging.getLogger("projector")

DEFAULT_GROUP_ID = "offshore-projector"


@dataclass
class ProjectorStats:
    received: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    refreshes: int = 0
    first_message_at: float | None = None  # time.monotonic()
    last_commit_at: float | None = None


class Projector:
    """One consumer-group member. `run(stop)` blocks until `stop` is set; `step()` reads one batch.

    Two threads: this one consumes, decodes and commits Kafka offsets; a writer thread writes each
    batch to Postgres, so decoding the next batch overlaps the database round trip. Batches are
    written in order, at most `_PIPELINE_DEPTH` wait, and a batch's Kafka offsets are committed only
    once the writer has committed it. Any write failure stops the projector.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        dsn: str,
        group_id: str = DEFAULT_GROUP_ID,
        topics: Sequence[str] | None = None,
        batch_size: int = 5000,
        max_batch_wait_s: float = 0.05,
        refresh_interval_s: float | None = 10.0,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics) if topics is not None else [t.name for t in ALL_TOPICS]
        self.stats = ProjectorStats()
        self._bootstrap = bootstrap
        self._dsn = dsn
        self._batch_size = batch_size
        self._max_wait = max_batch_wait_s
        self._refresh_interval = refresh_interval_s
        self._consumer_config = consumer_config or {}
        self._conn: psycopg.Connection[Any] | None = None  # positions on assignment (this thread)
        self._consumer: Consumer | None = None
        self._writer: _Writer | None = None
        self._refresher: _Refresher | None = None

    # ---- lifecycle ----

    def start(self) -> None:
        """Checks the schema first: an unmigrated database is refused before anything is consumed."""
        conn = _postgres.connect(self._dsn)
        try:
            _postgres.require_migrated(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        try:
            self._consumer = make_consumer(self._bootstrap, self.group_id, **self._consumer_config)
            if self._refresh_interval:
                self._refresher = _Refresher(self._dsn, self._refresh_interval, self.stats)
                self._refresher.start()
            self._writer = _Writer(self._dsn, self.group_id, self.stats, self._refresher)
            self._consumer.subscribe(self.topics, on_assign=self._on_assign)
        except KafkaException as exc:
            self.close()
            raise ProjectorError(f"cannot start the Kafka consumer: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Writes what was already read (a graceful stop loses no work), then closes everything."""
        try:
            if self._writer is not None:
                try:
                    self._writer.close()
                finally:
                    self._commit_kafka()  # whatever the writer stored before it stopped
        finally:
            self._writer = None
            if self._refresher is not None:
                self._refresher.stop()
                self._refresher = None
            if self._consumer is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    self._consumer.close()
                self._consumer = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def run(self, stop: threading.Event) -> ProjectorStats:
        self.start()
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()
        return self.stats

    # ---- one batch ----

    def step(self) -> int:
        """Reads and decodes up to one batch and hands it to the writer; returns the messages read."""
        assert self._consumer is not None and self._writer is not None, "start() first"
        self._writer.raise_if_failed()
        self._commit_kafka()
        try:
            messages = self._consumer.consume(self._batch_size, timeout=self._max_wait)
        except KafkaException as exc:
            raise ProjectorError(f"Kafka consume failed: {exc}") from exc
        rows: list[tuple[EventRow, Position]] = []
        rejected: list[_postgres.Rejected] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise ProjectorError(f"fatal Kafka error: {err.str()}")
                log.warning("kafka: %s", err.str())
                continue
            position = Position(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            try:
                rows.append((to_row(decode(msg.value() or b"")), position))
            except (SchemaError, TypeError) as exc:
                rejected.append(_reject(msg, position, exc))
        if not rows and not rejected:
            return 0
        if self.stats.first_message_at is None:
            self.stats.first_message_at = time.monotonic()
        self._writer.submit(_Batch(rows, rejected))
        return len(rows) + len(rejected)

    def _commit_kafka(self) -> None:
        """Commits the offsets of batches the writer has stored: only ever after their database commit.

        On this thread, because librdkafka's synchronous commit hangs when another thread consumes.
        A failure is harmless: the database holds the position.
        """
        assert self._consumer is not None and self._writer is not None
        done = self._writer.stored_offsets()
        if not done:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(done.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("kafka offset commit failed (the database keeps the position): %s", exc)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Positions come from the database. A batch still in the writer may make them lag: that only
        replays a few events, which the event-id key ignores."""
        assert self._conn is not None
        stored = _postgres.stored_offsets(self._conn, self.group_id, {tp.topic for tp in partitions})
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        log.info("assigned %d partitions, positioned from the database", len(partitions))
        consumer.assign(partitions)


@dataclass(frozen=True)
class _Batch:
    rows: list[tuple[EventRow, Position]]
    rejected: list[_postgres.Rejected]


_PIPELINE_DEPTH = 2
_STOP = None


class _Writer:
    """Writes batches in order on its own connection; reports their offsets once stored."""

    def __init__(self, dsn: str, group_id: str, stats: ProjectorStats, refresher: _Refresher | None) -> None:
        self._conn = _postgres.connect(dsn)
        self._group_id = group_id
        self._stats = stats
        self._stored: dict[tuple[str, int], int] = {}
        self._stored_lock = threading.Lock()
        self._refresher = refresher
        self._optimistic = True
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=_PIPELINE_DEPTH)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="projector-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: _Batch) -> None:
        while True:
            self.raise_if_failed()
            try:
                self._queue.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """Next offsets of everything stored since the last call (committed in the database)."""
        with self._stored_lock:
            done, self._stored = self._stored, {}
        return done

    def raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        if self._thread.is_alive():
            while True:  # the writer may be gone (failed) and the queue full: never block forever
                try:
                    self._queue.put(_STOP, timeout=0.2)
                    break
                except queue.Full:
                    if not self._thread.is_alive():
                        break
            self._thread.join()
        self._conn.close()
        self.raise_if_failed()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            try:
                self._write(batch)
            except BaseException as exc:  # handed to the consuming thread, which raises it
                self._failure = exc
                return

    def _write(self, batch: _Batch) -> None:
        started = time.perf_counter()
        result = _postgres.write_batch(
            self._conn, batch.rows, group_id=self._group_id, rejected=batch.rejected, optimistic=self._optimistic
        )
        # Plain COPY while everything is new; after a duplicate, staging until the replay is over.
        self._optimistic = result.duplicates == 0
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        positions = [pos for _, pos in batch.rows] + [r.position for r in batch.rejected]
        with self._stored_lock:
            for key, offset in next_offsets(positions).items():
                self._stored[key] = max(offset, self._stored.get(key, 0))
        stats = self._stats
        stats.received += result.received
        stats.written += result.written
        stats.rejected += result.rejected
        stats.duplicates += result.duplicates
        stats.batches += 1
        stats.last_commit_at = time.monotonic()
        metrics.EVENTS.labels("written").inc(result.written)
        metrics.EVENTS.labels("duplicate").inc(result.duplicates)
        metrics.EVENTS.labels("rejected").inc(result.rejected)
        if self._refresher is not None and result.written:
            self._refresher.mark_dirty()


def _reject(msg: Message, position: Position, exc: Exception) -> _postgres.Rejected:
    raw = msg.value() or b""
    log.warning("rejected %s[%d]@%d: %s", position.topic, position.partition, position.offset, type(exc).__name__)
    return _postgres.Rejected(
        position=position,
        error_type=type(exc).__name__,
        error=str(exc)[:300],
        payload_size=len(raw),
        payload_sha256=hashlib.sha256(raw).hexdigest(),
    )


class _Refresher:
    """Refreshes the views every interval when new events arrived, off the consuming thread."""

    def __init__(self, dsn: str, interval_s: float, stats: ProjectorStats) -> None:
        self._dsn = dsn
        self._interval = interval_s
        self._stats = stats
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="projector-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark_dirty(self) -> None:
        self._dirty.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self._dirty.is_set():
                continue
            self._dirty.clear()
            started = time.perf_counter()
            try:
                _postgres.refresh_views(self._dsn)
            except ProjectorError as exc:
                self._dirty.set()  # try again next interval
                metrics.REFRESH_FAILURES.inc()
                log.error("view refresh failed: %s", exc)
                continue
            metrics.REFRESH_SECONDS.observe(time.perf_counter() - started)
            metrics.LAST_REFRESH.set_to_current_time()
            self._stats.refreshes += 1


def run_projector(
    *,
    bootstrap: str,
    dsn: str,
    group_id: str = DEFAULT_GROUP_ID,
    topics: Sequence[str] | None = None,
    refresh_interval_s: float | None = 10.0,
    batch_size: int = 5000,
    stop: threading.Event | None = None,
) -> ProjectorStats:
    """Runs until `stop` is set; without one, until SIGINT/SIGTERM (when called from the main thread)."""
    own_stop = stop is None
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if own_stop and threading.current_thread() is threading.main_thread():

        def _handle(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _handle)
    projector = Projector(
        bootstrap=bootstrap,
        dsn=dsn,
        group_id=group_id,
        topics=topics,
        refresh_interval_s=refresh_interval_s,
        batch_size=batch_size,
    )
    try:
        return projector.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def run_projector_async(
    *,
    bootstrap: str,
    dsn: str,
    stop: asyncio.Event,
    group_id: str = DEFAULT_GROUP_ID,
    topics: Sequence[str] | None = None,
    refresh_interval_s: float | None = 10.0,
    batch_size: int = 5000,
) -> ProjectorStats:
    """The same loop in a worker thread, stopped by an asyncio event (for asyncio hosts)."""
    thread_stop = threading.Event()

    async def _relay() -> None:
        await stop.wait()
        thread_stop.set()

    relay = asyncio.create_task(_relay())
    try:
        return await asyncio.to_thread(
            run_projector,
            bootstrap=bootstrap,
            dsn=dsn,
            group_id=group_id,
            topics=topics,
            refresh_interval_s=refresh_interval_s,
            batch_size=batch_size,
            stop=thread_stop,
        )
    finally:
        thread_stop.set()
        relay.cancel()
