"""The one retry schedule every retry loop uses (common.retry.Backoff)."""

from __future__ import annotations

import asyncio
import itertools
import time

from common.retry import Backoff


def test_delays_double_from_the_first_and_stop_at_the_cap() -> None:
    b = Backoff(first_s=0.05, max_s=2.0, attempts=8)
    assert [b.delay(n) for n in b] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert b.delay(10_000) == 2.0  # no overflow for a follower that has waited for days


def test_a_limited_schedule_has_a_last_attempt_and_an_unlimited_one_none() -> None:
    limited = Backoff(attempts=3)
    assert list(limited) == [1, 2, 3] and [limited.last(n) for n in limited] == [False, False, True]
    forever = Backoff()
    assert list(itertools.islice(forever, 5)) == [1, 2, 3, 4, 5] and not forever.last(10**9)


def test_wait_honours_a_longer_pause() -> None:
    started = time.monotonic()
    asyncio.run(Backoff(first_s=0.001, max_s=0.001).wait(1, at_least_s=0.05))  # e.g. a 429's Retry-After
    assert time.monotonic() - started >= 0.05
