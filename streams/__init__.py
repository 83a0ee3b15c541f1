"""Faust stream stages (compile, execute, settle), the topic registry and the Kafka client setup.

Importing `streams` loads only the registry and the errors: the indexer names topics without pulling
in confluent-kafka (and nothing here imports Faust, which only `streams.app` and the agents use). The
confluent-kafka helpers (`streams.kafka`) load on first use of one of their names.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from streams.errors import KafkaError, PipelineError
from streams.topics import ALL_TOPICS, Topic, topic_for

if _TYPE_CHECKING:  # the real signatures for type checkers; at runtime they load lazily
    from streams.kafka import (
        consumer_config,
        create_topics,
        make_consumer,
        make_producer,
        producer_config,
        read_events,
    )

# Loaded from streams.kafka on first access (PEP 562), so `import streams` stays light.
_LAZY = ("consumer_config", "create_topics", "make_consumer", "make_producer", "producer_config", "read_events")


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        from streams import kafka

        return getattr(kafka, name)
    raise AttributeError(f"module 'streams' has no attribute {name!r}")


__all__ = [
    "ALL_TOPICS",
    "KafkaError",
    "PipelineError",
    "Topic",
    "consumer_config",
    "create_topics",
    "make_consumer",
    "make_producer",
    "producer_config",
    "read_events",
    "topic_for",
]
