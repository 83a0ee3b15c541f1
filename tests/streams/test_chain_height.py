"""NearChain.final_height: one read at a time, a fresh height answered at once, a stale one answered
at once while a single read refreshes it, and only a missing or too old height waited for."""

from __future__ import annotations

import asyncio

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

    async def _read_height(self) -> int:
        self.reads += 1
        height = await self.answers.get()
        self._height = (asyncio.get_running_loop().time(), height)
        return height


async def turns() -> None:
    """Lets every ready task run (the reads start as tasks)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_callers_wait_for_the_first_read_and_share_it() -> None:
    chain = Heights()
    waiting = [asyncio.ensure_future(chain.final_height()) for _ in range(5)]
    await turns()
    assert chain.reads == 1 and not any(w.done() for w in waiting)
    chain.answers.put_nowait(7)
    assert await asyncio.gather(*waiting) == [7] * 5


async def test_a_stale_height_is_answered_at_once_while_one_read_refreshes_it() -> None:
    chain = Heights(height_ttl_s=0.0, height_stale_s=60.0)
    chain.answers.put_nowait(7)
    assert await chain.final_height() == 7
    # older than the TTL: the old height at once, and a single background read for all callers
    assert [await chain.final_height() for _ in range(3)] == [7, 7, 7]
    await turns()
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
    await turns()
    assert not later.done()
    chain.answers.put_nowait(8)
    assert await later == 8


async def test_a_failed_background_read_is_retried_by_the_next_caller() -> None:
    chain = Heights(height_ttl_s=0.0, height_stale_s=60.0)
    chain.answers.put_nowait(7)
    assert await chain.final_height() == 7
    assert await chain.final_height() == 7  # starts a background read
    await turns()
    assert chain._height_read is not None and chain.reads == 2
    chain._height_read.cancel()  # the read fails
    await turns()
    assert await chain.final_height() == 7
    await turns()
    assert chain.reads == 3  # a new read, not the dead one
