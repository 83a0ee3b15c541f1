"""Faust stream stages (compile, execute, settle), the topic registry and the Kafka client setup."""

from streams.errors import KafkaError, PipelineError
from streams.kafka import consumer_config, create_topics, make_consumer, make_producer, producer_config, read_events
from streams.topics import ALL_TOPICS, Topic, topic_for

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
