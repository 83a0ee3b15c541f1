"""One retry schedule (capped exponential back-off) for every loop that waits out a transient failure.

The chain client (heights, views, resolves), the block API client and the indexer's consistency
wait each retried with their own hand-written loop and doubling delay; they now share this one, so
the first delay, the cap and the attempt limit are visible at the call site and tested once.

    backoff = Backoff(first_s=0.05, max_s=2.0, attempts=5)
    for attempt in backoff:          # 1, 2, ... attempts (forever when attempts is None)
        try:
            return await call()
        except Transient:
            if backoff.last(attempt):
                raise
        await backoff.wait(attempt)  # first_s, 2 x first_s, ... capped at max_s
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.05
    max_s: float = 2.0
    attempts: int | None = None  # None: until it succeeds (a follower must never skip a block)

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self.attempts + 1)) if self.attempts is not None else itertools.count(1)

    def last(self, attempt: int) -> bool:
        return self.attempts is not None and attempt >= self.attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based): doubling from `first_s`, capped."""
        return float(min(self.first_s * 2.0 ** min(attempt - 1, 60), self.max_s))

    async def wait(self, attempt: int, *, at_least_s: float = 0.0) -> None:
        await asyncio.sleep(max(self.delay(attempt), at_least_s))  # poll: back-off between retries
