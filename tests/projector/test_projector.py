"""The projector against the real broker and Postgres: replays, rebuilds and commit ordering."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from projector import (
    DatabaseError,
    Projector,
    migrate,
    refresh_views,
    run_projector_async,
    view_checksums,
)
from projector.synthetic import synthetic_events
from schemas import encode
from schemas.events import Event
from streams import ALL_TOPICS, topic_for
from streams.kafka import make_producer

Ends = dict[tuple[str, int], int]
FAST_GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 300}  # joins in ~1 s on Tansu


def _produce(
    bootstrap: str,
    topics: list[str],
    events: Iterable[Event],
    *,
    garbage: int = 0,
    where: dict[bytes, tuple[str, int, int]] | None = None,
) -> Ends:
    """Sends each event to this test's copy of its topic; returns one past the last offset per partition.

    `where`, when given, receives each message's (topic, partition, offset) by message value.
    """
    mine = {t.name: name for t, name in zip(ALL_TOPICS, topics, strict=True)}
    ends: Ends = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        key = (msg.topic(), msg.partition())
        ends[key] = max(ends.get(key, 0), msg.offset() + 1)
        if where is not None:
            where[msg.value()] = (msg.topic(), msg.partition(), msg.offset())

    producer = make_producer(bootstrap)
    for event in events:
        topic = mine[topic_for(type(event).__name__).name]
        producer.produce(topic, key=event.request_id.encode(), value=encode(event), on_delivery=delivered)
    for i in range(garbage):
        producer.produce(topics[0], key=b"junk", value=b"not avro %d" % i, on_delivery=delivered)
    assert producer.flush(30) == 0
    return ends


def _db_offsets(dsn: str, group: str) -> Ends:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic, kafka_partition, next_offset FROM store.projector_offsets WHERE consumer_group = %s",
            (group,),
        ).fetchall()
    return {(t, p): o for t, p, o in rows}


def _reached(dsn: str, group: str, ends: Ends) -> bool:
    have = _db_offsets(dsn, group)
    return all(have.get(key, 0) >= end for key, end in ends.items())


def _kafka_committed(bootstrap: str, group: str, keys: Iterable[tuple[str, int]]) -> Ends:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3})
    try:
        found = probe.committed([TopicPartition(t, p) for t, p in keys], timeout=10)
    finally:
        probe.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _run(projector: Projector, done: Callable[[], bool], *, timeout: float = 60.0) -> BaseException | None:
    """Runs the projector in a thread until `done()` or until it fails; returns its error, if any."""
    stop = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            projector.run(stop)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and thread.is_alive():  # poll
            if done():
                break
            time.sleep(0.05)  # poll
        else:
            if thread.is_alive():
                raise AssertionError(f"projector did not finish within {timeout}s: {projector.stats}")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    return failure[0] if failure else None


def _projector(bootstrap: str, dsn: str, group: str, topics: list[str], **kwargs: Any) -> Projector:
    return Projector(bootstrap=bootstrap, dsn=dsn, group_id=group, topics=topics, consumer_config=FAST_GROUP, **kwargs)


def test_replays_and_rebuilds_give_identical_views(
    kafka_bootstrap: str, topics: list[str], database: str, make_database: Callable[[], str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    events = list(synthetic_events(150, prefix=f"r{tag}-"))
    requests = len({e.request_id for e in events})
    ends = _produce(kafka_bootstrap, topics, events, garbage=2)
    group = f"proj-{tag}"

    # First pass, with interval refreshes: the views fill up without anyone calling refresh.
    first = _projector(kafka_bootstrap, database, group, topics, refresh_interval_s=0.2, batch_size=97)
    error = _run(
        first,
        lambda: (
            _reached(database, group, ends)
            and _count(database, "SELECT count(*) FROM analytics.request_status") == requests
        ),
    )
    assert error is None
    assert _count(database, "SELECT count(*) FROM store.events") == len(events)
    assert _count(database, "SELECT count(*) FROM store.rejected_messages") == 2
    assert first.stats.written == len(events) and first.stats.rejected == 2 and first.stats.refreshes >= 1
    # Kafka offsets were committed (after the database) up to the end of every partition.
    assert _kafka_committed(kafka_bootstrap, group, ends) == ends
    refresh_views(database)
    reference = view_checksums(database)

    # Every event published a second time: the same group reads the duplicates, which change nothing.
    ends = _produce(kafka_bootstrap, topics, events)
    again = _projector(kafka_bootstrap, database, group, topics, refresh_interval_s=None)
    assert _run(again, lambda: _reached(database, group, ends)) is None
    assert again.stats.written == 0 and again.stats.duplicates == len(events)
    refresh_views(database)
    assert view_checksums(database) == reference

    # A second group replays both copies of every topic from the beginning: still a no-op.
    other = _projector(kafka_bootstrap, database, f"{group}-b", topics, refresh_interval_s=None)
    assert _run(other, lambda: _reached(database, f"{group}-b", ends)) is None
    assert other.stats.written == 0 and other.stats.received == 2 * len(events) + 2
    refresh_views(database)
    assert view_checksums(database) == reference

    # Drop the database, re-migrate, and rebuild with the SAME group: the database (now empty) decides
    # where to start, not Kafka's committed offsets, so everything is read again.
    rebuilt = make_database()
    migrate(rebuilt)
    fresh = _projector(kafka_bootstrap, rebuilt, group, topics, refresh_interval_s=None)
    assert _run(fresh, lambda: _reached(rebuilt, group, ends)) is None
    assert fresh.stats.written == len(events)
    refresh_views(rebuilt)
    assert view_checksums(rebuilt) == reference
    assert all(reference.values())


def test_kafka_offsets_are_committed_only_after_the_database_commit(
    kafka_bootstrap: str, topics: list[str], database: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    events = list(synthetic_events(40, prefix=f"c{tag}-"))
    where: dict[bytes, tuple[str, int, int]] = {}
    ends = _produce(kafka_bootstrap, topics, events, where=where)
    poison = events[len(events) // 2]
    poison_topic, poison_partition, poison_offset = where[encode(poison)]
    # Fault injection in the real database (a trigger): the write of one batch fails mid-transaction.
    with psycopg.connect(database) as conn:
        conn.execute(
            "CREATE FUNCTION store.fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.event_id = '{poison.event_id}' THEN RAISE EXCEPTION 'injected fault'; END IF;"
            " RETURN NEW; END $$"
        )
        conn.execute("CREATE TRIGGER fault BEFORE INSERT ON store.events FOR EACH ROW EXECUTE FUNCTION store.fault()")
    group = f"commit-{tag}"
    failing = _projector(kafka_bootstrap, database, group, topics, refresh_interval_s=None, batch_size=8)
    error = _run(failing, lambda: False)
    assert isinstance(error, DatabaseError) and "injected fault" in str(error)

    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT topic, kafka_partition, kafka_offset FROM store.events WHERE event_id = %s", (poison.event_id,)
        ).fetchone()
        assert row is None  # the failed transaction left nothing behind
    stored = _db_offsets(database, group)
    committed = _kafka_committed(kafka_bootstrap, group, ends)
    # Kafka never got ahead of the database: whatever was committed there is also stored here.
    for key, offset in committed.items():
        if offset >= 0:
            assert stored.get(key, 0) >= offset, (key, offset, stored.get(key))
    # and neither moved past the message that could not be written
    assert committed[(poison_topic, poison_partition)] <= poison_offset
    assert stored.get((poison_topic, poison_partition), 0) <= poison_offset
    assert _count(database, "SELECT count(*) FROM store.events") < len(events)

    with psycopg.connect(database) as conn:
        conn.execute("DROP TRIGGER fault ON store.events")
    healed = _projector(kafka_bootstrap, database, group, topics, refresh_interval_s=None)
    assert _run(healed, lambda: _reached(database, group, ends)) is None
    assert _count(database, "SELECT count(*) FROM store.events") == len(events)
    assert _kafka_committed(kafka_bootstrap, group, ends) == ends


@pytest.mark.parametrize("refresh", [None, 0.1])
def test_stop_is_prompt_and_clean(
    kafka_bootstrap: str, topics: list[str], database: str, refresh: float | None
) -> None:
    projector = _projector(
        kafka_bootstrap, database, f"idle-{uuid.uuid4().hex[:6]}", topics, refresh_interval_s=refresh
    )
    started = time.monotonic()
    assert _run(projector, lambda: time.monotonic() - started > 1.0) is None
    assert time.monotonic() - started < 10
    assert projector.stats.received == 0


async def test_async_runner_projects_until_stopped(kafka_bootstrap: str, topics: list[str], database: str) -> None:
    tag = uuid.uuid4().hex[:6]
    events = list(synthetic_events(10, prefix=f"a{tag}-"))
    ends = _produce(kafka_bootstrap, topics, events)
    group = f"async-{tag}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_projector_async(bootstrap=kafka_bootstrap, dsn=database, stop=stop, group_id=group, topics=topics)
    )
    deadline = time.monotonic() + 60
    while not _reached(database, group, ends):  # poll
        assert time.monotonic() < deadline and not task.done()
        await asyncio.sleep(0.05)  # poll
    stop.set()
    stats = await asyncio.wait_for(task, 30)
    assert stats.written == len(events)
