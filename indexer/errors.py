"""Errors of the indexer.

IndexerError (a common.errors.OffshoreError)
 +-- BlockApiError      the block API answered something unusable, or not at all after retries
 +-- CheckpointError    the checkpoint cannot be read or written
 +-- PublishError       Kafka did not acknowledge the events of a window
"""

from __future__ import annotations

from common.errors import OffshoreError


class IndexerError(OffshoreError):
    pass


class BlockApiError(IndexerError):
    pass


class CheckpointError(IndexerError):
    pass


class PublishError(IndexerError):
    pass
