"""Follows final NEAR blocks and publishes the offshore contract's events to Kafka."""

from indexer.core import BlockInfo, LogSite, events_in_block, parse_event_log
from indexer.errors import BlockApiError, CheckpointError, IndexerError, PublishError
from indexer.follower import Checkpoint, IndexerConfig, KafkaPublisher, Publisher, run_indexer

__all__ = [
    "BlockApiError",
    "BlockInfo",
    "Checkpoint",
    "CheckpointError",
    "IndexerConfig",
    "IndexerError",
    "KafkaPublisher",
    "LogSite",
    "PublishError",
    "Publisher",
    "events_in_block",
    "parse_event_log",
    "run_indexer",
]
