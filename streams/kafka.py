"""confluent-kafka clients configured once for this platform, by broker profile (kafka_profile.py).

Every consumer commits manually after its side effects (at-least-once); every stage is idempotent, so
a redelivery is harmless. Kafka transactions are not used: Tansu shows aborted records to readers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from schemas import Event
from streams.errors import KafkaError
from streams.kafka_profile import BrokerProfile, current_profile, topics_to_create
from streams.topics import ALL_TOPICS, Topic

_LOG = logging.getLogger("offshore.kafka")


def producer_config(bootstrap: str, *, profile: BrokerProfile | None = None, **extra: Any) -> dict[str, Any]:
    """Idempotent, acks=all producer settings of the process's broker profile (kafka_profile.py)."""
    return {**(profile or current_profile()).producer(bootstrap), **extra}


def consumer_config(
    bootstrap: str, group_id: str, *, profile: BrokerProfile | None = None, **extra: Any
) -> dict[str, Any]:
    """Manual-commit consumer settings of the process's broker profile (kafka_profile.py)."""
    return {**(profile or current_profile()).consumer_config(bootstrap, group_id), **extra}


def make_producer(bootstrap: str, **extra: Any) -> Producer:
    return Producer(producer_config(bootstrap, **extra))


def make_consumer(bootstrap: str, group_id: str, **extra: Any) -> Consumer:
    return Consumer(consumer_config(bootstrap, group_id, **extra))


def create_topics(
    bootstrap: str,
    topics: Iterable[Topic] = ALL_TOPICS,
    *,
    timeout: float = 15.0,
    replication_factor: int | None = None,
    profile: BrokerProfile | None = None,
) -> list[str]:
    """Creates the missing topics when the profile owns them (local); returns the names it created.

    In production the Strimzi topic operator owns every topic (deploy/k8s/base/topics): this only
    checks that they exist and raises KafkaError naming the missing ones, so a process never races
    the operator and never creates a topic with the wrong replication factor. Safe to run any number
    of times.
    """
    profile = profile or current_profile()
    topics = list(topics)
    # librdkafka's own log lines go through Python logging (a CLI command shows one line, not dozens)
    config: dict[str, Any] = {**profile.librdkafka_common(bootstrap), "logger": _LOG}
    admin = AdminClient(config)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    create, missing = topics_to_create(profile, [t.name for t in topics], existing)
    if missing:
        raise KafkaError(
            f"topics {', '.join(missing)} do not exist on {bootstrap}; with the {profile.name} broker profile "
            "the topic operator creates them (deploy/k8s/base/topics), processes do not"
        )
    wanted = [t for t in topics if t.name in create]
    if not wanted:
        return []
    replicas = replication_factor or profile.replication_factor
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=t.partitions, replication_factor=replicas, config=t.config()) for t in wanted],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():  # keep `admin` referenced until every future resolves
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args and getattr(exc.args[0], "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                continue
            raise KafkaError(f"cannot create topic {name}: {exc}") from exc
    return created


def read_events(
    bootstrap: str,
    topics: Iterable[str],
    *,
    until: Callable[[], bool] = lambda: False,
    timeout_s: float = 60.0,
    quiet_s: float | None = None,
) -> Iterator[Event]:
    """Decoded events of `topics` from the beginning, in a throwaway group, until `until()` holds, the
    topics stay quiet for `quiet_s`, or `timeout_s` passes (for tools, the demo and benchmarks)."""
    from schemas import decode

    consumer = make_consumer(bootstrap, f"reader-{uuid.uuid4().hex[:8]}")
    consumer.subscribe(list(topics))
    deadline = last = time.monotonic()
    deadline += timeout_s
    try:
        while not until() and time.monotonic() < deadline:  # poll
            if quiet_s is not None and time.monotonic() - last > quiet_s:
                return
            msg = consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            last = time.monotonic()
            yield decode(msg.value() or b"")
    finally:
        consumer.close()
