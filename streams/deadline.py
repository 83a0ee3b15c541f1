"""Yield deadlines: a request must be resolved before its yield times out on chain.

The yield is created in the block of the request's receipt and times out `timeout_blocks` later. A
stage that sees fewer than `margin_blocks` left gives up on the request (RequestExpired) instead of
doing work whose result the chain would refuse; the chain then refunds the request in full.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import ExecutionRequested


@dataclass(frozen=True, kw_only=True)
class DeadlinePolicy:
    timeout_blocks: int = 200  # nearcore's yield timeout
    margin_blocks: int = 10  # blocks needed to land resolve_execution and its receipt

    def deadline(self, req: ExecutionRequested) -> int:
        return req.block_height + self.timeout_blocks

    def expired(self, req: ExecutionRequested, final_height: int) -> bool:
        return final_height + self.margin_blocks >= self.deadline(req)

    def slack(self, req: ExecutionRequested, final_height: int) -> int:
        return self.deadline(req) - final_height
