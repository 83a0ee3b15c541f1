"""Writing events without Kafka: for backfills from files, tests and tools. Same rows, same idempotency."""

from __future__ import annotations

from collections.abc import Iterable

from projector import _postgres
from projector.core import Position, to_row
from schemas.events import Event

DIRECT_TOPIC = "(direct)"


def write_events(dsn: str, events: Iterable[Event], *, batch_size: int = 5000) -> int:
    """Appends events (duplicates ignored) and returns how many were new. Moves no consumer offsets."""
    written = 0
    with _postgres.connect(dsn) as conn:
        _postgres.require_migrated(conn)
        batch = []
        for index, event in enumerate(events):
            batch.append((to_row(event), Position(DIRECT_TOPIC, 0, index)))
            if len(batch) >= batch_size:
                written += _postgres.write_batch(conn, batch, group_id=None).written
                batch = []
        if batch:
            written += _postgres.write_batch(conn, batch, group_id=None).written
    return written
