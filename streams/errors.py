"""Errors of the streams package.

PipelineError
 +-- KafkaError    the broker could not be reached or refused an operation
 +-- ChainError    the NEAR RPC failed (after retries) or refused a call
"""

from __future__ import annotations


class PipelineError(Exception):
    pass


class KafkaError(PipelineError):
    pass


class ChainError(PipelineError):
    pass
