"""Avro events through the real broker: produce, consume in a group, commit, resume from the commit."""

from __future__ import annotations

import time
import uuid

import psycopg
from confluent_kafka import Consumer, Message

from schemas import decode, encode
from schemas.samples import sample_requested
from streams import ALL_TOPICS, Topic, create_topics, make_consumer, make_producer


def _poll(consumer: Consumer, timeout: float = 20.0) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # poll
        msg = consumer.poll(0.2)
        if msg is not None:
            assert msg.error() is None, msg.error()
            return msg
    raise AssertionError("no message within timeout")


def test_produce_consume_commit_and_resume(kafka_bootstrap: str) -> None:
    topic = Topic(f"test.roundtrip.{uuid.uuid4().hex[:8]}", ("ExecutionRequested",), partitions=1)
    assert create_topics(kafka_bootstrap, [topic]) == [topic.name]
    events = [sample_requested(request_id=str(i)) for i in range(3)]
    producer = make_producer(kafka_bootstrap)
    for event in events:
        producer.produce(topic.name, key=event.request_id.encode(), value=encode(event))
    assert producer.flush(10) == 0

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = make_consumer(kafka_bootstrap, group)
    first.subscribe([topic.name])
    msg = _poll(first)
    assert decode(msg.value() or b"") == events[0]
    first.commit(message=msg, asynchronous=False)
    first.close()

    # A new member of the same group resumes right after the committed offset.
    second = make_consumer(kafka_bootstrap, group)
    second.subscribe([topic.name])
    assert [decode(_poll(second).value() or b"") for _ in range(2)] == events[1:]
    second.close()


def test_topic_creation_is_idempotent(kafka_bootstrap: str) -> None:
    assert create_topics(kafka_bootstrap) == []  # the session fixture created them already
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    for topic in ALL_TOPICS:
        assert len(metadata.topics[topic.name].partitions) == topic.partitions


def test_sql_round_trip(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, body jsonb)")
        conn.execute("INSERT INTO t VALUES (1, %s::jsonb)", ('{"a": 1}',))
        assert conn.execute("SELECT body->>'a' FROM t WHERE id = 1").fetchone() == ("1",)
