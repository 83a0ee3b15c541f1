"""A request that can no longer settle before its yield times out is expired, not executed."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from offshore.local import CLIENTS
from schemas import ExecutionFinished, RequestExpired, decode
from streams.kafka import make_consumer
from streams.topics import EXECUTED, SETTLED

from .conftest import Harness, _harness

pytestmark = pytest.mark.integration
TIMEOUT_BLOCKS = 300  # 30 s of 0.1 s blocks; the stages give up 10 blocks before (settle margin)
# A short run limit: compile must leave room for it inside the window, or it expires the request itself.
RUN_LIMITS = {"max_instructions": 1_000_000_000, "max_memory_mb": 32, "max_execution_seconds": 1}


@pytest.fixture(scope="module")
def short_yield() -> Iterator[Harness]:
    yield from _harness("offshore-e2e-deadline-", block_interval_s=0.1, yield_timeout_blocks=TIMEOUT_BLOCKS)


async def test_request_near_its_deadline_is_expired_not_executed(short_yield: Harness) -> None:
    platform = short_yield.platform
    platform.kill("execute", signal.SIGKILL)  # the request waits in front of execute ...
    (sent,) = await short_yield.send(1, guest="sha256", limits=RUN_LIMITS)
    async with short_yield.client(CLIENTS[0]) as alice:
        created = int((await alice.view("get_request", {"request_id": sent.request_id}))["created_height"])
        while True:  # poll: ... until fewer than the settle margin's blocks are left
            head = (await alice._account.provider.json_rpc("block", {"finality": "final"}))["header"]["height"]
            if head >= created + TIMEOUT_BLOCKS - 10:
                break
            await asyncio.sleep(0.1)  # poll
    platform.restart("execute")
    views = await short_yield.finals([sent.request_id], timeout_s=60)
    view = views[sent.request_id]
    assert view["status"] == "timed_out"
    assert (int(view["payment_charged"]), int(view["payment_refunded"])) == (0, sent.deposit)
    assert short_yield.resolve_counts()[sent.request_id] == 0

    consumer = make_consumer(short_yield.info.endpoints.kafka_bootstrap, f"t-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([SETTLED.name, EXECUTED.name])
    seen: list[object] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(isinstance(e, RequestExpired) for e in seen):  # poll
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            event = decode(msg.value() or b"")
            if event.request_id == sent.request_id:
                seen.append(event)
    consumer.close()
    expired = [e for e in seen if isinstance(e, RequestExpired)]
    # Execute (killed) holds it past the deadline; on a loaded machine compile may already see it too
    # late and skip the build. Either way no work ran for it.
    assert expired and expired[0].stage in ("compile", "execute")
    assert expired[0].deadline_height == created + TIMEOUT_BLOCKS
    assert not any(isinstance(e, ExecutionFinished) for e in seen)  # the program never ran
