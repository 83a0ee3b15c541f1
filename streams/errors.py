"""Errors of the streams package.

PipelineError (a common.errors.OffshoreError)
 +-- KafkaError    the broker could not be reached or refused an operation
 +-- ChainError    the NEAR RPC failed (after retries) or refused a call
      +-- ResolveRefused  resolve_execution landed and failed on chain (the contract refused it)
"""

from __future__ import annotations

from common.errors import OffshoreError


class PipelineError(OffshoreError):
    pass


class KafkaError(PipelineError):
    pass


class ChainError(PipelineError):
    pass


class ResolveRefused(ChainError):
    """resolve_execution was executed and failed (a contract panic or out of gas): resending the same
    response cannot help; settle falls back to a failure response with the same usage."""
