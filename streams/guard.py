"""The "never do a request's work twice" rule, as one small object every stage shell uses.

Kafka delivers at least once: an event comes again after a crash, a rebalance, or a re-drive by the
reconciler, and two deliveries of one request can even be in flight at the same time in one process
(the agent runs with concurrency > 1). The guard answers both:

- a request whose outcome is recorded (`record`, durable when the guard has a `ResultStore`) is a
  duplicate: the caller re-emits the stored outcome, and the program never runs a second time, whichever
  process owns the partition now;
- a request already in flight in this process is a duplicate too: the first delivery emits.

Without a store (settle) only the in-flight half applies; settle's second line is the chain itself
(a request that no longer awaits a resolve is skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class OutcomeStore(Protocol):
    def get(self, request_id: str) -> bytes | None: ...

    def put(self, request_id: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class Duplicate:
    """A delivery that must not redo the work; `stored` is the recorded outcome to re-emit, if any."""

    stored: bytes | None


class OnceGuard:
    def __init__(self, store: OutcomeStore | None = None) -> None:
        self._store = store
        self._inflight: set[str] = set()

    def claim(self, request_id: str) -> Duplicate | None:
        """None: the caller owns the work and must `release` it (after `record`, if it succeeded)."""
        stored = self._store.get(request_id) if self._store is not None else None
        if stored is not None or request_id in self._inflight:
            return Duplicate(stored)
        self._inflight.add(request_id)
        return None

    def record(self, request_id: str, data: bytes) -> None:
        """Records the outcome before it is emitted: a crash in between re-emits it, never re-runs."""
        if self._store is not None:
            self._store.put(request_id, data)

    def release(self, request_id: str) -> None:
        self._inflight.discard(request_id)

    @property
    def inflight(self) -> int:
        return len(self._inflight)
