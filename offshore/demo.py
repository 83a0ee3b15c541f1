"""`offshore demo`: bring the local stack up, prove each part works end to end, print it, tear down."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import psycopg

from offshore.settings import Settings
from offshore.stack import running_stack
from schemas import ExecutionRequested, decode, encode
from schemas.samples import sample_requested
from streams import create_topics, make_consumer, make_producer
from streams.topics import REQUESTS


def run_demo(settings: Settings, out: Callable[[str], None] = print) -> None:
    started = time.monotonic()
    out("demo: starting the local stack (Kafka-API broker + PostgreSQL) ...")
    with running_stack(settings.state_dir / "demo") as endpoints:
        out(f"  kafka     {endpoints.kafka_bootstrap}")
        out(f"  postgres  {endpoints.postgres_dsn}")
        created = create_topics(endpoints.kafka_bootstrap)
        out(f"demo: topics ready ({len(created)} created)")

        event = sample_requested(request_id=f"demo-{uuid.uuid4().hex[:8]}")
        producer = make_producer(endpoints.kafka_bootstrap)
        producer.produce(REQUESTS.name, key=event.request_id.encode(), value=encode(event))
        producer.flush(10)
        consumer = make_consumer(endpoints.kafka_bootstrap, f"demo-{uuid.uuid4().hex[:8]}")
        consumer.subscribe([REQUESTS.name])
        received = None
        deadline = time.monotonic() + 30
        while received is None and time.monotonic() < deadline:  # poll
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.key() == event.request_id.encode():
                received = decode(msg.value() or b"")
                consumer.commit(message=msg, asynchronous=False)
        consumer.close()
        if not isinstance(received, ExecutionRequested) or received != event:
            raise RuntimeError("the Avro event did not come back through the broker")
        out(f"demo: Avro round trip through Kafka ok (request {received.request_id}, {REQUESTS.name})")

        with psycopg.connect(endpoints.postgres_dsn) as conn:
            version = conn.execute("SELECT version()").fetchone()
        out(f"demo: SQL round trip ok ({str(version[0] if version else '?').split(' on ')[0]})")
    out(f"demo: stack stopped; done in {time.monotonic() - started:.1f}s")
