"""Errors of the streams package.

PipelineError
 +-- KafkaError    the broker could not be reached or refused an operation
"""

from __future__ import annotations


class PipelineError(Exception):
    pass


class KafkaError(PipelineError):
    pass
