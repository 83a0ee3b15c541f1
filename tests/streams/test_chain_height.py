"""NearChain.final_height: one read at a time, a fresh height answered at once, a stale one answered
at once while a single read refreshes it, and only a missing or too old height waited for."""

from __future__ import annotations

import asyncio
import contextlib

from streams.chain import NearChain


class Heights(NearChain):
    """The node's answers come from `answers`, one read per item; `reads` counts them."""

    def __init__(self, *, height_ttl_s: float = 0.1, height_stale_s: float = 1.0) -> None:
        super().__init__(
            rpc_url="http://127.0.0.1:9",
            contract_id="c.test.near",
            height_ttl_s=height_ttl_s,
            height_stale_s=height_stale_s,
        )
        self.reads = 0
        self.answers: asyncio.Queue[int] = asyncio.Queue()
        self.changed = asyncio.Condition()

    async def started(self, reads: int) -> None:
        """Returns once `reads` reads have started (readiness, not a sleep)."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.reads >= reads)

    async def _read_height(self) -> int:
        async with self.changed:
            self.reads += 1
            self.changed.notify_all()
        height = await self.answers.get()
        self._height = (asyncio.get_running_loop().time(), height)
        return height


async def test_callers_wait_for_the_first_read_and_share_it() -> None:
    chain = Heights()
    waiting = [asyncio.ensure_future(chain.final_height()) for _ in range(5)]
    await chain.started(1)
    assert chain.reads == 1 and not any(w.done() for w in waiting)
    chain.answers.put_nowait(7)
    assert await asyncio.gather(*waiting) == [7] * 5


async def test_a_stale_height_is_answered_at_once_while_one_read_refreshes_it() -> None:
    chain = Heights(height_ttl_s=0.0, height_stale_s=60.0)
    chain.answers.put_nowait(7)
    assert await chain.final_height() == 7
    # older than the TTL: the old height at once, and a single background read for all callers
    assert [await chain.final_height() for _ in range(3)] == [7, 7, 7]
    await chain.started(2)
    assert chain.reads == 2
    chain.answers.put_nowait(9)
    assert chain._height_read is not None
    await chain._height_read
    assert await chain.final_height() == 9


async def test_a_height_older_than_the_stale_bound_is_waited_for() -> None:
    chain = Heights(height_ttl_s=0.0, height_stale_s=0.0)
    chain.answers.put_nowait(7)
    assert await chain.final_height() == 7
    later = asyncio.ensure_future(chain.final_height())
    await chain.started(2)
    assert not later.done()
    chain.answers.put_nowait(8)
    assert await later == 8


async def test_a_failed_background_read_is_retried_by_the_next_caller() -> None:
    chain = Heights(height_ttl_s=0.0, height_stale_s=60.0)
    chain.answers.put_nowait(7)
    assert await chain.final_height() == 7
    assert await chain.final_height() == 7  # starts a background read
    await chain.started(2)
    dead = chain._height_read
    assert dead is not None
    dead.cancel()  # the read fails
    with contextlib.suppress(asyncio.CancelledError):
        await dead
    assert await chain.final_height() == 7
    await chain.started(3)  # a new read, not the dead one
    assert chain._height_read is not dead
