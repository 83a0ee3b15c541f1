"""The one shell every stage agent runs in: decode, guard against duplicates, dead-letter, emit, metrics.

A stage's agent (`streams/<stage>/agent.py`) only says what to do with one decoded event; the rest is
here, once:

- decode the Avro value and check the event belongs on the topic it came from;
- run the handler; anything it cannot handle is parked on the dead-letter topic (topic, partition,
  offset, payload, error) so the partition moves on and the event is never lost;
- `once`: the "never run a program twice" rule (`streams.guard.OnceGuard`) around a piece of work;
- `emit`: send an outcome to its topic (`streams.topics.topic_for`), keyed by request id;
- count messages in and out, duration, duplicates and dead letters (`streams.metrics`).

Offsets are committed by Faust only after the handler returns (at-least-once); the reconciler
re-drives whatever Faust still loses on a rebalance. Faust is only touched in `FaustSender` and
`consume`, so the shell is unit-tested with a recording sender (tests/streams/test_shell.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from schemas import DeadLetter, Event, SchemaError, decode, encode
from streams import metrics
from streams.guard import OnceGuard
from streams.topics import DEAD_LETTERS, topic_for

log = logging.getLogger("offshore.streams")


class Sender(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...


class FaustSender:
    """Sends through a Faust app's producer (topics are looked up once)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._topics: dict[str, Any] = {}

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if topic not in self._topics:
            self._topics[topic] = self._app.topic(topic)
        await self._topics[topic].send(key=key, value=value)


@dataclass(frozen=True)
class Delivery:
    """One consumed message: where it came from and its bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, event: Any) -> Delivery:
        """From a Faust stream event."""
        msg = event.message
        key = event.key if isinstance(event.key, bytes) else None
        return cls(msg.topic, msg.partition, msg.offset, key, bytes(event.value or b""))


Handler = Callable[[Delivery, Event], Awaitable[None]]


class StageShell:
    def __init__(
        self,
        stage: str,
        sender: Sender,
        *,
        accepts: tuple[type[Event], ...],
        handler: Handler | None = None,
        guard: OnceGuard | None = None,
    ) -> None:
        self.stage = stage
        self.sender = sender
        self.accepts = accepts
        self.handler = handler
        self.guard = guard or OnceGuard()

    async def consume(self, stream: Any) -> None:
        """The Faust agent function: every event of the stream through `process`."""
        async for event in stream.events():
            await self.process(Delivery.of(event))

    async def process(self, delivery: Delivery) -> None:
        """Decode and run the handler; anything it cannot handle goes to dead letters, never up the stack."""
        started = time.perf_counter()
        try:
            event = decode(delivery.value)
            metrics.MESSAGES.labels(self.stage, "in", type(event).__name__).inc()
            if not isinstance(event, self.accepts):
                raise SchemaError(f"{type(event).__name__} does not belong on {delivery.topic}")
            if self.handler is None:
                raise RuntimeError(f"stage {self.stage} has no handler")
            await self.handler(delivery, event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # poison message or bug: park it, keep the partition moving
            await self.dead_letter(delivery, exc)
        finally:
            metrics.DURATION.labels(self.stage).observe(time.perf_counter() - started)

    async def once(self, request_id: str, work: Callable[[], Awaitable[Event]]) -> Event | None:
        """Runs `work` unless the request is a duplicate (a stored outcome is re-emitted instead);
        records and emits the outcome. Returns it, or None for a duplicate."""
        duplicate = self.guard.claim(request_id)
        if duplicate is not None:
            metrics.DUPLICATES.labels(self.stage).inc()
            if duplicate.stored is not None:
                await self.emit(decode(duplicate.stored), duplicate.stored)
            return None
        try:
            out = await work()
            data = encode(out)
            self.guard.record(request_id, data)  # before emitting: a crash in between re-emits, never re-runs
        finally:
            self.guard.release(request_id)
        await self.emit(out, data)
        return out

    async def emit(self, event: Event, data: bytes | None = None) -> None:
        await self.sender.send(topic_for(type(event).__name__).name, event.request_id.encode(), data or encode(event))
        metrics.MESSAGES.labels(self.stage, "out", type(event).__name__).inc()

    async def dead_letter(self, delivery: Delivery, exc: BaseException) -> None:
        letter = DeadLetter(
            event_id=f"dlq:{delivery.topic}:{delivery.partition}:{delivery.offset}",
            request_id=(delivery.key or b"").decode(errors="replace"),
            occurred_at=datetime.now(UTC),
            producer=self.stage,
            stage=self.stage,
            source_topic=delivery.topic,
            partition=delivery.partition,
            offset=delivery.offset,
            key=delivery.key,
            payload=delivery.value,
            error_type=type(exc).__name__,
            error=str(exc)[:2000],
        )
        metrics.DEAD_LETTERS.labels(self.stage).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s: %s",
            delivery.topic,
            delivery.partition,
            delivery.offset,
            type(exc).__name__,
            exc,
        )
        await self.sender.send(DEAD_LETTERS.name, delivery.key, encode(letter))


def data_dir(root: Any, stage: str) -> str:
    """Per process: two workers of one stage on a host must not share Faust's data directory."""
    return str(root / f"{stage}-{os.getpid()}")


def producer_name(stage: str) -> str:
    """The `producer` field of a stage's events: which stage on which host."""
    return f"{stage}@{socket.gethostname()}"
